"""Write the label file postprocess.py reads from an ImageNet-style folder, numbering the class folders by the
class names the model records (--model), or else by their sorted order.

    python -m src.tools.make_label_file --dataset_path /data/imagenet/val --label_file val_labels.txt \
        [--model inceptionv4.onnx | --model inceptionv4.mindir | --model ckpt_0/inceptionv4-train-250_1251.ckpt]
"""
import argparse

from src.deploy.runners import model_file_metadata
from src.inputs.files import model_classes, write_label_file
from src.runtime.fileio import check_input_file, prepare_output_file
from src.runtime.stops import report_user_errors


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_path", required=True, help="folder of class folders of images")
    parser.add_argument("--label_file", required=True, help="label file to write (<image-stem>:<class index>)")
    parser.add_argument("--model", default="", help="checkpoint (.ckpt), ONNX or MINDIR model whose recorded class "
                                                    "names number the class folders")
    args = parser.parse_args(argv)
    prepare_output_file(args.label_file, "label file")
    if args.model:
        check_input_file(args.model, "model", "pass the .ckpt, .onnx or .mindir file the inference app's model was "
                                              "made from.")
    class_names, class_ids = model_classes(model_file_metadata(args.model)) if args.model else (None, None)
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
