// The built-in removal methods: identity, OpenCV inpainting, precomputed outputs, external commands
// (every failure mode recorded with its reason).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "adapters/command_remover.h"
#include "adapters/error.h"
#include "adapters/registry.h"
#include "harness/image_io.h"
#include "tests/test_paths.h"

using namespace osor;
namespace fs = std::filesystem;

namespace {

adapters::RemovalInput make_input(const std::string& id = "a", int64_t h = 24, int64_t w = 32) {
  adapters::RemovalInput in;
  in.id = id;
  at::manual_seed(7);
  in.image = at::rand({1, 3, h, w}).mul(255).round().div(255);
  in.mask = at::zeros({1, 1, h, w});
  in.mask.index_put_({0, 0, at::indexing::Slice(8, 16), at::indexing::Slice(10, 20)}, 1.0);
  in.bench = "b";
  in.masks = "object";
  return in;
}

std::unique_ptr<adapters::Remover> make(const std::string& text, const fs::path& work = {}) {
  adapters::RemoverContext context;
  context.work_dir = work;
  return adapters::make_remover(adapters::MethodSpec::parse(text), context);
}

fs::path write_script(const fs::path& dir, const std::string& name, const std::string& body) {
  const fs::path path = dir / name;
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  fs::permissions(path, fs::perms::owner_all);
  return path;
}

}  // namespace

TEST_CASE("method specs parse name and options, and print canonically") {
  const auto spec = adapters::MethodSpec::parse("opencv-telea:radius=5,dilate=2");
  CHECK(spec.name == "opencv-telea");
  CHECK(spec.options.at("radius") == "5");
  CHECK(spec.text() == "opencv-telea:dilate=2,radius=5");
  CHECK_THROWS_WITH_AS(adapters::MethodSpec::parse("opencv-telea:radius"), doctest::Contains("not key=value"),
                       AdapterError);
  CHECK_THROWS_WITH_AS(make("nonesuch"), doctest::Contains("unknown method 'nonesuch'"), AdapterError);
  CHECK_THROWS_WITH_AS(make("opencv-ns:radius=x"), doctest::Contains("radius=x is not a number"), AdapterError);
  CHECK_THROWS_WITH_AS(make("opencv-ns:size=3"), doctest::Contains("unknown option 'size'"), AdapterError);
}

TEST_CASE("identity returns the input, OpenCV inpainting changes only the masked pixels") {
  const auto in = make_input();
  CHECK(make("identity")->remove(in).image.equal(in.image));
  for (const char* method : {"opencv-telea:radius=3", "opencv-ns"}) {
    CAPTURE(method);
    const auto out = make(method)->remove(in).image;
    REQUIRE(out.sizes() == in.image.sizes());
    const at::Tensor outside = in.mask.lt(0.5).expand_as(out);
    CHECK(out.masked_select(outside).equal(in.image.masked_select(outside)));
    CHECK(!out.equal(in.image));
  }
  CHECK(make("opencv-telea:radius=5")->id() == "opencv-telea:radius=5");
}

TEST_CASE("precomputed outputs are matched by stem and resized back with the declared filter") {
  const fs::path dir = test::scratch_dir("precomputed");
  fs::create_directories(dir / "b" / "object");
  const auto in = make_input("s1");
  harness::write_image(dir / "b" / "object" / "s1.jpg", at::ones({1, 3, 12, 16}) * 0.5);
  const auto remover = make("precomputed:dir=" + (dir / "{bench}" / "{masks}").string() + ",filter=linear");
  const auto out = remover->remove(in).image;
  CHECK(out.sizes() == in.image.sizes());
  CHECK(std::abs(out.mean().item<double>() - 128.0 / 255.0) < 2.0 / 255.0);
  auto missing = make_input("s2");
  CHECK_THROWS_WITH_AS(remover->remove(missing), doctest::Contains("no output for sample s2"), AdapterError);
  CHECK_THROWS_WITH_AS(make("precomputed"), doctest::Contains("needs dir=PATH"), AdapterError);
}

TEST_CASE("command: a per-sample program's output is read back") {
  const fs::path dir = test::scratch_dir("command_ok");
  const fs::path script = write_script(dir, "copy.sh", "cp \"$1\" \"$2\"");
  const auto remover = make("command:argv=" + script.string() + " {input} {output}", dir / "work");
  const auto in = make_input();
  CHECK(remover->remove(in).image.equal(in.image));
}

TEST_CASE("command failures: missing program, non-zero exit, timeout, missing and wrong-size output") {
  const fs::path dir = test::scratch_dir("command_failures");
  const auto in = make_input();
  struct Case {
    std::string argv, reason;
  };
  const fs::path fail = write_script(dir, "fail.sh", "echo 'model exploded' >&2; exit 3");
  const fs::path slow = write_script(dir, "slow.sh", "sleep 5");
  const fs::path lazy = write_script(dir, "lazy.sh", "exit 0");
  // Writes a 5x5 PNG whatever the input size.
  const fs::path small = dir / "small.png";
  cv::imwrite(small.string(), cv::Mat(5, 5, CV_8UC3, cv::Scalar(1, 2, 3)));
  const fs::path wrong = write_script(dir, "wrong.sh", "cp " + small.string() + " \"$2\"");
  const std::vector<Case> cases = {
      {(dir / "does-not-exist").string() + " {input} {output}", "cannot start the program"},
      {fail.string() + " {input} {output}", "exit status 3 (stderr: model exploded)"},
      {slow.string() + " {input} {output},timeout=0.3", "timed out"},
      {lazy.string() + " {input} {output}", "wrote no output"},
      {wrong.string() + " {input} {output}", "is 5x5, input is 24x32"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.argv);
    const auto remover = make("command:argv=" + c.argv, dir / "work");
    CHECK_THROWS_WITH_AS(remover->remove(in), doctest::Contains(c.reason.c_str()), AdapterError);
  }
}

TEST_CASE("command in folder mode runs once for all samples and amortises the latency") {
  const fs::path dir = test::scratch_dir("command_folder");
  const fs::path count = dir / "calls.txt";
  const fs::path script = write_script(dir, "batch.sh", "echo x >> " + count.string() + "; cp \"$1\"/* \"$2\"/");
  const auto remover = make("command:argv=" + script.string() + " {input_dir} {output_dir}", dir / "work");
  REQUIRE(remover->processes_folders());
  const std::vector<adapters::RemovalInput> inputs = {make_input("a"), make_input("b"), make_input("c")};
  remover->prepare(inputs);
  for (const auto& in : inputs) {
    const auto out = remover->remove(in);
    CHECK(out.image.equal(in.image));
    CHECK(out.latency_ms >= 0);
  }
  std::ifstream calls(count);
  std::string all((std::istreambuf_iterator<char>(calls)), std::istreambuf_iterator<char>());
  CHECK(all == "x\n");
}

TEST_CASE("command: the work folder is named from the method id, never the label, and clean-up stays inside") {
  const fs::path dir = test::scratch_dir("command_label_path");
  const fs::path work = dir / "work";
  fs::create_directories(dir / "victim");
  std::ofstream(dir / "victim" / "keep.txt") << "not the run's";
  // As a previous run would have left it: with this folder present, "command-x/../../victim" resolves to
  // dir/victim, which the folder-mode clean-up deleted when the folder was named from the label.
  fs::create_directories(work / "command-x");
  const fs::path record = dir / "used.txt";
  const std::string folder_argv =
      write_script(dir, "batch.sh", "echo \"$2\" > " + record.string() + "; cp \"$1\"/* \"$2\"/").string() +
      " {input_dir} {output_dir}";
  const std::string sample_argv =
      write_script(dir, "copy.sh", "echo \"$(dirname \"$2\")\" > " + record.string() + "; cp \"$1\" \"$2\"").string() +
      " {input} {output}";
  // Built directly: MethodSpec::parse refuses such a label, but the remover must not depend on that. The label
  // is set both where command.cpp reads it today (options) and where the parser puts it (label).
  auto hostile = [&](const std::string& argv) {
    adapters::MethodSpec spec;
    spec.name = "command";
    spec.options["argv"] = argv;
    spec.options["name"] = "x/../../victim";
    spec.label = "x/../../victim";
    return spec;
  };
  adapters::RemoverContext context;
  context.work_dir = work;
  const auto in = make_input();
  fs::path method_folder;
  for (const std::string& argv : {folder_argv, sample_argv}) {
    CAPTURE(argv);
    adapters::CommandRemover remover(hostile(argv), context);
    remover.prepare({in});
    CHECK(remover.remove(in).image.equal(in.image));
    CHECK(fs::exists(dir / "victim" / "keep.txt"));
    std::ifstream recorded(record);
    std::string used;
    std::getline(recorded, used);
    // The program's output folder is <method folder>/output, and the method folder sits directly in the work dir.
    const fs::path folder = fs::weakly_canonical(fs::path(used)).parent_path();
    CHECK(folder.parent_path() == fs::weakly_canonical(work));
    CHECK(folder.filename().string().size() == std::string("command-").size() + 16);
    CHECK(folder.filename().string().rfind("command-", 0) == 0);
    if (argv == folder_argv) method_folder = folder;
  }
  // The second guard: a method folder that resolves outside the work dir (here a symlink) is never cleaned up.
  REQUIRE(!method_folder.empty());
  fs::create_directories(dir / "elsewhere");
  std::ofstream(dir / "elsewhere" / "keep.txt") << "not the run's";
  fs::remove_all(method_folder);
  fs::create_directory_symlink(dir / "elsewhere", method_folder);
  adapters::CommandRemover remover(hostile(folder_argv), context);
  CHECK_THROWS_WITH_AS(remover.prepare({in}), doctest::Contains("refusing to delete"), AdapterError);
  CHECK(fs::exists(dir / "elsewhere" / "keep.txt"));
}
