"""Export trained networks (the embedder, the MTCNN cascade) to ONNX for the service."""
