#!/bin/sh
# `docker` for the workspace: rootless podman takes the same commands.
exec podman "$@"
