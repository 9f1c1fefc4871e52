#!/bin/bash
# Runs on the lent GPU machine (see docs/ARCHITECTURE.md, "Measuring on a real GPU"):
# unpacks the Vulkan loader carried in .gl/ and runs the binaries carried in .gpu/.
for f in .gl/*.deb; do dpkg -x $f / ; done; ldconfig
if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
export RINGATTN_ADAPTER=${RINGATTN_ADAPTER:-NVIDIA}
