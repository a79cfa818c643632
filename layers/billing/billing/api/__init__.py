"""The billing HTTP API's shared code: request/response models, auth, errors, cursors, read views."""
