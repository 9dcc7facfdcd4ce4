"""Write the label file postprocess.py reads from an ImageNet-style folder, numbering the class folders by the
class names the model records (--model), or else by their sorted order.

    python -m src.tools.make_label_file --dataset_path /data/imagenet/val --label_file val_labels.txt \
        [--model inceptionv4.onnx | --model ckpt_0/inceptionv4-train-250_1251.ckpt]
"""
import argparse
import os

from src.checkpoint import checkpoint_metadata, exported_metadata
from src.inputs.files import model_classes, write_label_file
from src.runtime.errors import UserError, report_user_errors
from src.runtime.fileio import check_input_file, prepare_output_file


def model_class_names(path):
    """(class names, WordNet ids) a checkpoint (.ckpt) or an exported ONNX model (.onnx) records
    (src.inputs.files.model_classes), or (None, None)."""
    check_input_file(path, "model", "pass the .ckpt or .onnx file the inference app's model was made from.")
    from src.checkpoint import checkpoint_metadata, read_checkpoint  # pylint: disable=import-outside-toplevel
    if path.lower().endswith(".onnx"):
        import onnx  # pylint: disable=import-outside-toplevel
        try:
            props = {prop.key: prop.value for prop in onnx.load(path, load_external_data=False).metadata_props}
        except Exception as err:  # pylint: disable=broad-except  # any parse failure: not an ONNX file
            raise UserError(f"'{os.path.abspath(path)}' is not a readable ONNX model ({type(err).__name__}).") \
                from None
        return model_classes(exported_metadata(props, path))
    return model_classes(checkpoint_metadata(read_checkpoint(path), path))


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_path", required=True, help="folder of class folders of images")
    parser.add_argument("--label_file", required=True, help="label file to write (<image-stem>:<class index>)")
    parser.add_argument("--model", default="", help="checkpoint (.ckpt) or ONNX model whose recorded class names "
                                                    "number the class folders")
    args = parser.parse_args(argv)
    prepare_output_file(args.label_file, "label file")
    class_names, class_ids = model_class_names(args.model) if args.model else (None, None)
    count = write_label_file(args.dataset_path, args.label_file, class_names, class_ids)
    if class_names:
        how = (f"class folders numbered by the {len(class_names)} class names of '{args.model}'"
               + (" (folders named by WordNet id or by name)" if class_ids else ""))
    else:
        how = ("class folders numbered in sorted order: right only when the folder holds every class of the model"
               + (f" ('{args.model}' records no class names)" if args.model else "; pass --model to number "
                  "them by the model's class names"))
    print(f"wrote {count} labels to {args.label_file} ({how})")


if __name__ == "__main__":
    main()
