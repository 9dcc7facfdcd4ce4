"""What the network is fed: dataset files and their checks, class names, preprocessing, ImageNet-1k's classes."""
