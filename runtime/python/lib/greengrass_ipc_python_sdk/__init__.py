# Evergreen: runtime-side "greengrass_ipc_python_sdk" package (IPC client the
# genuine greengrasssdk imports).  See runtime/python/README.md.
