"""Convert published Inception-v4 weights into a checkpoint of this network (the original model zoo's names),
and a checkpoint of this network back into timm's `inception_v4` state dict.

    python -m src.tools.convert_checkpoint --source {timm,mindcv} --input IN --output OUT.ckpt
    python -m src.tools.convert_checkpoint --to timm --input CKPT --output model.safetensors

timm: `model.safetensors` of `inception_v4.tf_in1k` (read with NumPy, no PyTorch needed), or a PyTorch state
dict (.pth/.bin, read only when PyTorch is installed). mindcv: its MindSpore `.ckpt`. BatchNorm eps differences
are folded into the moving variance; the head BatchNorms the sources lack are set to identity, so the
converted network's log-probabilities equal log_softmax of the source's logits. The class count comes from the
input's classifier. The checkpoint records the source's preprocessing (src.inputs.preprocessing.SOURCES), its input
size (299x299) and, for 1000 classes, the ImageNet-1k class names and WordNet ids.

--to timm writes, with NumPy, what `timm.create_model("inception_v4", num_classes=N).load_state_dict(...,
strict=True)` takes and computes the checkpoint's eval-mode log-probabilities as log_softmax of its logits:
the conv BatchNorms' eps 1e-5 -> 1e-3 folded into the running variance, and the head BatchNorms (affine maps
in eval mode around the dense layer; the dropout between them is the identity) folded into last_linear. The
checkpoint's metadata (class names, preprocessing) goes into the file's header.
"""
import argparse
import os
import sys

from src.checkpoint import (IMAGE_SIZE_KEY, METADATA_KEY, PREPROCESSING_KEY, checkpoint_metadata, encode_metadata,
                            read_checkpoint, save_checkpoint, weights_metadata)
from src.inputs.files import imagenet_class_ids, imagenet_class_names
from src.inputs.preprocessing import SOURCES
from src.deploy.convert import CLASSIFIER_PREFIX, SOURCE_IMAGE_SIZE, convert, read_weights, to_timm
from src.runtime.fileio import atomic_output, check_not_input
from src.runtime.stops import UserError, report_user_errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    direction = parser.add_mutually_exclusive_group(required=True)
    direction.add_argument("--source", choices=sorted(CLASSIFIER_PREFIX), help="where the weights come from")
    direction.add_argument("--to", choices=["timm"], help="write this network's checkpoint as that library's weights")
    parser.add_argument("--input", required=True, help="timm .safetensors (or .pth/.bin) / mindcv .ckpt file; "
                        "with --to: a checkpoint of this network")
    parser.add_argument("--output", required=True, help="file to write: .ckpt (--source), .safetensors (--to timm)")
    args = parser.parse_args(argv)
    return _run(args)


@report_user_errors
def _run(args):
    if not os.path.isfile(args.input):
        raise UserError(f"input '{os.path.abspath(args.input)}' does not exist.")
    extension, kind = (".safetensors", "a safetensors file") if args.to else (".ckpt", "a MindSpore checkpoint")
    if not args.output.lower().endswith(extension):
        raise UserError(f"--output '{args.output}' must end with {extension} ({kind}).")
    if os.path.isdir(args.output):
        raise UserError(f"--output '{os.path.abspath(args.output)}' is a folder: give a {extension} file path.")
    check_not_input(args.output, args.input)
    if args.to:
        return _write_timm(args)
    weights = read_weights(args.input)
    net, num_classes = convert(args.source, weights, args.input)
    classes = (imagenet_class_names(), imagenet_class_ids()) if num_classes == 1000 else ()
    metadata = {**weights_metadata(SOURCES[args.source], *SOURCE_IMAGE_SIZE, *classes),
                "converted_from": {"source": args.source, "file": os.path.basename(args.input)}}
    try:
        save_checkpoint(net, args.output, metadata=metadata)
    except OSError as err:
        raise UserError(f"cannot write '{os.path.abspath(args.output)}': {err.strerror or err}.") from None
    count = sum(param.size for param in net.trainable_params())
    prep = SOURCES[args.source]
    print(f"convert_checkpoint: wrote {args.output}: {args.source} weights in the original model zoo's layout, "
          f"{len(net.parameters_dict())} parameters ({count:,} trainable values), "
          f"{num_classes} classes; recorded {prep.describe(*SOURCE_IMAGE_SIZE)[len('preprocessing: '):]}", flush=True)
    print(f"use it: python eval.py --checkpoint_path {args.output} --num_classes {num_classes} --dataset_path VAL; "
          f"python predict.py --ckpt_file {args.output} --num_classes {num_classes} --image IMAGE; fine-tune: "
          f"python train.py --pretrained {args.output} --num_classes N --dataset_path TRAIN", flush=True)
    return 0


def _write_timm(args):
    params = read_checkpoint(args.input)
    tensors, num_classes = to_timm(params, args.input)
    metadata = checkpoint_metadata(params, args.input)
    header = {"format": "pt", **({METADATA_KEY: encode_metadata(metadata)}
                                 if metadata else {})}
    from safetensors.numpy import save_file
    try:
        with atomic_output(args.output) as tmp:
            save_file(tensors, tmp, metadata=header)
    except OSError as err:
        raise UserError(f"cannot write '{os.path.abspath(args.output)}': {err.strerror or err}.") from None
    print(f"convert_checkpoint: wrote {args.output}: timm inception_v4 state dict, {len(tensors)} tensors, "
          f"{num_classes} classes (BatchNorm eps 1e-5 -> 1e-3 folded into running_var; bn0 and softmax.batchnorm "
          "folded into last_linear)", flush=True)
    prep, size = metadata.get(PREPROCESSING_KEY), metadata.get(IMAGE_SIZE_KEY)
    fed = (f"feed it what the checkpoint records: {', '.join(f'{k} {v}' for k, v in prep.items())}"
           if isinstance(prep, dict) else "the checkpoint records no preprocessing (the original's: ImageNet "
           "mean/std, bilinear, crop_pct 1.0)")
    if isinstance(size, list) and len(size) == 2:
        fed += f", at {size[0]}x{size[1]}"
    print(f"use it: model = timm.create_model('inception_v4', num_classes={num_classes}); "
          f"model.load_state_dict(safetensors.torch.load_file('{args.output}'), strict=True); model.eval(); "
          f"log_softmax(model(x)) are the checkpoint's log-probabilities; {fed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())