#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image:
# the Debian/Ubuntu packages the grader needs to build and boot a stacklabs kernel.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    python3 \
    make \
    gcc \
    libc6-dev \
    binutils \
    nasm \
    musl-tools \
    grub-pc-bin \
    grub-common \
    xorriso \
    mtools \
    qemu-system-x86
