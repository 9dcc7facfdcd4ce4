"""Write the label file postprocess.py reads from an ImageNet-style folder (class folders sorted -> index).

    python -m src.tools.make_label_file --dataset_path /data/imagenet/val --label_file val_labels.txt
"""
import argparse

from src.errors import report_user_errors
from src.label_file import write_label_file


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_path", required=True, help="folder of class folders of images")
    parser.add_argument("--label_file", required=True, help="label file to write (<image-stem>:<class index>)")
    args = parser.parse_args(argv)
    count = write_label_file(args.dataset_path, args.label_file)
    print(f"wrote {count} labels to {args.label_file}")


if __name__ == "__main__":
    main()
