"""The model registry: numbered SavedModel versions laid out as TensorFlow Serving reads them."""
