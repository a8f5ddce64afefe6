// Times the named stages of one model call on the device the work runs on, for `osor latency` and the eval
// latency column. On CUDA each stage is bracketed by device events on the current stream (no host sync inside
// the call: the timing does not perturb the pipeline); on the CPU by a steady clock. finish() waits for the
// device and returns, per stage, the summed time and how often it ran (a multi-step backbone runs many times).
//
//   StageTimer timer(device);
//   timer.begin("vae_encode"); ...; timer.end();
//   for (...) { timer.begin("unet"); ...; timer.end(); }
//   StageTimes t = timer.finish();   // t.ms["unet"] = sum over calls, t.calls["unet"] = number of calls
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace osor::model {

struct StageTimes {
  std::map<std::string, double> ms;      // summed over the stage's calls
  std::map<std::string, int64_t> calls;  // how many times each stage ran
};

class StageTimer {
 public:
  explicit StageTimer(c10::Device device);
  ~StageTimer();
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

  // Stages do not nest: begin() while a stage is open throws ModelError.
  void begin(const std::string& stage);
  void end();
  // Waits for queued device work and returns the totals; the timer is then empty again.
  StageTimes finish();
  // "device-events" or "steady-clock": how the stages were measured (reports state it).
  const char* clock_name() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How a StageTimer on `device` measures: "device-events" or "steady-clock" (what StageTimer::clock_name says).
const char* stage_clock_name(c10::Device device);

// Blocks until every queued operation on `device` has finished (no-op on the CPU).
void synchronize_device(c10::Device device);

}  // namespace osor::model
