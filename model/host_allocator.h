// The host allocator policy of OSOR's processes (the osor CLI, osor_tests, osor_perf). glibc's malloc serves blocks
// above its mmap threshold (128 KiB, raised after frees to at most 32 MiB) with fresh mmap()s and unmaps them on
// free, so every activation tensor of a network layer on the CPU costs new page faults and kernel page zeroing on
// every call. configure_host_allocator() raises the mmap and trim thresholds to 1 GiB: blocks up to that size come
// from the heap and freed memory stays mapped for reuse; the process keeps its peak footprint (which is what the
// reports' peak RSS shows). Measured on the 2-core development VM (README "Host memory"): tiny OSOR-SDXL at 256²
// 5× faster, FID Inception 1.9×, LPIPS-VGG 2.8×. $OSOR_HOST_MALLOC=system keeps glibc's defaults; other C
// libraries: no change.
#pragma once

#include <string>

namespace osor::model {

// Call once, first thing in main(). Idempotent.
void configure_host_allocator();

// What configure_host_allocator() did, for provenance (osor latency's JSON): "glibc malloc, mmap and trim
// thresholds 1 GiB", "glibc malloc defaults ($OSOR_HOST_MALLOC=system)", "system malloc", or "not configured".
std::string host_allocator_policy();

}  // namespace osor::model
