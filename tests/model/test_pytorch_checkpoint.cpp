// model/io/pytorch_checkpoint: torch.save files read natively. Files written by PyTorch itself (the legacy and zip
// formats, tests/fixtures/checkpoints/make_checkpoints.py, values in its checkpoints.json; the conformance set's
// zip checkpoints against their safetensors twins), and malformed files built here: each is a ModelError naming
// the file and the problem.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/error.h"
#include "model/io/pytorch_checkpoint.h"
#include "model/io/safetensors.h"
#include "tests/conformance_fixture.h"
#include "tests/test_paths.h"

namespace fs = std::filesystem;
using osor::model::CheckpointTensor;
using osor::model::PytorchCheckpoint;
using namespace std::string_literals;  // the pickles below hold NUL bytes

namespace {

fs::path checkpoint_fixture(const std::string& name) { return osor::test::fixtures_dir() / "checkpoints" / name; }

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

at::ScalarType scalar_type(const std::string& dtype) {
  static const std::map<std::string, at::ScalarType> types = {
      {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"F64", at::kDouble}, {"I64", at::kLong},
      {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},      {"U8", at::kByte},    {"BOOL", at::kBool}};
  return types.at(dtype);
}

at::Tensor as_tensor(const CheckpointTensor& t) {
  return at::from_blob(const_cast<unsigned char*>(t.data), t.shape, at::TensorOptions().dtype(scalar_type(t.dtype)))
      .clone();
}

// Every tensor of `expected` (checkpoints.json: name -> dtype, shape, row-major values) is in `c`, exactly.
void check_tensors(const PytorchCheckpoint& c, const nlohmann::json& expected) {
  static const std::map<std::string, std::string> dtype_names = {
      {"float32", "F32"}, {"float16", "F16"}, {"bfloat16", "BF16"}, {"float64", "F64"}, {"int64", "I64"},
      {"int32", "I32"},   {"int16", "I16"},   {"int8", "I8"},       {"uint8", "U8"},    {"bool", "BOOL"}};
  CHECK(c.tensors().size() == expected.size());
  for (const auto& [name, e] : expected.items()) {
    CAPTURE(name);
    const CheckpointTensor* t = c.find(name);
    REQUIRE(t != nullptr);
    CHECK(t->dtype == dtype_names.at(e.at("dtype").get<std::string>()));
    CHECK(t->shape == e.at("shape").get<std::vector<int64_t>>());
    const std::vector<double> values = e.at("values").get<std::vector<double>>();
    const at::Tensor got = as_tensor(*t).to(at::kDouble).reshape(-1);
    REQUIRE(got.numel() == static_cast<int64_t>(values.size()));
    for (size_t i = 0; i < values.size(); ++i) CHECK(got[static_cast<int64_t>(i)].item<double>() == values[i]);
  }
}

// The message of the ModelError that reading `bytes` throws; fails the test when none is thrown.
std::string read_error(const std::string& bytes, const std::string& label = "bad.pth") {
  try {
    PytorchCheckpoint::parse(bytes.data(), bytes.size(), label);
  } catch (const osor::ModelError& e) {
    return e.what();
  }
  FAIL("no error reading " << label);
  return "";
}

// The legacy format's header: the magic number, protocol 1001 and sys_info pickles (protocol 2).
std::string legacy_header() {
  return std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15) +
         std::string("\x80\x02M\xe9\x03.", 6) + std::string("\x80\x02}q\x00.", 6);
}

}  // namespace

TEST_CASE("pytorch checkpoint: the legacy format's tensors match checkpoints.json (every dtype, strides, offsets)") {
  const nlohmann::json expected = osor::test::read_fixture_json(checkpoint_fixture("checkpoints.json"));
  const PytorchCheckpoint c = PytorchCheckpoint::read(checkpoint_fixture("legacy_state_dict.pth"));
  CHECK(c.format() == "legacy");
  CHECK(c.skipped().empty());
  check_tensors(c, expected.at("legacy_state_dict.pth").at("tensors"));
}

TEST_CASE("pytorch checkpoint: nested dicts flatten with '.', other values are skipped, in both formats alike") {
  const nlohmann::json expected = osor::test::read_fixture_json(checkpoint_fixture("checkpoints.json")).at("nested");
  for (const auto& [file, format] : {std::pair<std::string, std::string>{"legacy_nested.pth", "legacy"},
                                     {"zip_nested.pth", "zip"}}) {
    CAPTURE(file);
    const PytorchCheckpoint c = PytorchCheckpoint::read(checkpoint_fixture(file));
    CHECK(c.format() == format);
    check_tensors(c, expected.at("tensors"));
    CHECK(c.skipped() == expected.at("skipped").get<std::vector<std::string>>());
  }
}

TEST_CASE("pytorch checkpoint: a truncated file is an error naming the file, at every length") {
  for (const std::string file : {"legacy_state_dict.pth", "zip_nested.pth"}) {
    const std::string bytes = file_bytes(checkpoint_fixture(file));
    for (size_t n = 0; n < bytes.size(); n += 7) {
      CAPTURE(n);
      const std::string message = read_error(bytes.substr(0, n), file);
      CHECK(message.find(file) != std::string::npos);
    }
  }
  const std::string zip = file_bytes(checkpoint_fixture("zip_nested.pth"));
  CHECK(read_error(zip.substr(0, zip.size() - 30)).find("no end-of-central-directory record") != std::string::npos);
  const std::string legacy = file_bytes(checkpoint_fixture("legacy_state_dict.pth"));
  CHECK(read_error(legacy.substr(0, legacy.size() - 1)).find("truncated: storage") != std::string::npos);
}

TEST_CASE("pytorch checkpoint: a global outside the allow-list is refused by name, nothing is called") {
  // The classic payload: os.system("echo pwned") via GLOBAL + REDUCE, as the saved object.
  const std::string payload = legacy_header() + "\x80\x02" "cos\nsystem\nX\x0b\x00\x00\x00" "echo pwned\x85R."s;
  const std::string message = read_error(payload, "evil.pth");
  CHECK(message.find("evil.pth") != std::string::npos);
  CHECK(message.find("global 'os.system' is not allowed") != std::string::npos);
  const std::string from_bytes =
      legacy_header() + "\x80\x02" "ctorch.storage\n_load_from_bytes\nC\x01xq\x00\x85R."s;
  CHECK(read_error(from_bytes).find("global 'torch.storage._load_from_bytes' is not allowed") != std::string::npos);
}

TEST_CASE("pytorch checkpoint: a bad opcode, a stack underflow and a storage too small are errors that say so") {
  CHECK(read_error(legacy_header() + "\x80\x02\xff.").find("opcode 0xff is not allowed or not known") !=
        std::string::npos);
  CHECK(read_error(legacy_header() + "\x80\x02s.").find("stack underflow") != std::string::npos);
  CHECK(read_error(legacy_header() + "\x80\x02" "ccollections\nOrderedDict\n)\x81.").find("opcode 0x81") !=
        std::string::npos);  // NEWOBJ: instantiating a class is refused
  CHECK(read_error(std::string("\x80\x02K\x01.", 5)).find("without torch.save's magic number") != std::string::npos);
  CHECK(read_error("plain text").find("neither a zip archive nor a legacy torch.save stream") != std::string::npos);
  // {"w": _rebuild_tensor_v2(FloatStorage '0' of 2 elements, offset 1, size (2,), stride (1,))}: reaches element 2.
  const std::string pid = "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x02Ntq\x01Q"s;
  const std::string tensor = "ctorch._utils\n_rebuild_tensor_v2\n(" + pid + "K\x01K\x02\x85K\x01\x85\x89)tR";
  const std::string keys = std::string("\x80\x02]q\x00X\x01\x00\x00\x00" "0a.", 13);
  const std::string storage = std::string("\x02\0\0\0\0\0\0\0", 8) + std::string(8, '\0');
  const std::string too_far = legacy_header() + "\x80\x02}X\x01\x00\x00\x00w"s + tensor + "s." + keys + storage;
  CHECK(read_error(too_far).find("tensor w reaches element 2 of a storage of 2 elements") != std::string::npos);
  const std::string short_storage = legacy_header() + "\x80\x02}X\x01\x00\x00\x00w"s + tensor + "s." + keys +
                                    std::string("\x09\0\0\0\0\0\0\0", 8) + std::string(8, '\0');
  CHECK(read_error(short_storage).find("storage 0 holds 9 elements, the pickle said 2") != std::string::npos);
}

namespace {

// The conformance set's `<name>.state_dict.pth` (a torch.save zip) holds exactly the tensors of `<name>.lora.safetensors`.
void check_against_safetensors_twin(const fs::path& root, const std::string& name) {
  const fs::path dir = root / "model";
  const PytorchCheckpoint c = PytorchCheckpoint::read(dir / (name + ".state_dict.pth"));
  const auto twin = osor::model::SafetensorsFile::open(dir / (name + ".lora.safetensors"));
  CHECK(c.format() == "zip");
  REQUIRE(c.tensors().size() == twin.names().size());
  for (const std::string& key : twin.names()) {
    CAPTURE(key);
    const CheckpointTensor* t = c.find(key);
    REQUIRE(t != nullptr);
    CHECK(t->dtype == twin.entry(key).dtype);
    const at::Tensor expected = twin.tensor(key);
    CHECK(t->shape == expected.sizes().vec());
    CHECK(at::equal(as_tensor(*t), expected));
  }
}

}  // namespace

TEST_CASE("conformance: model/sdxl_unet_osor state_dict.pth read natively equals sdxl_unet_osor.lora.safetensors") {
  OSOR_REQUIRE_CONFORMANCE(root, "model/sdxl_unet_osor.state_dict.pth");
  check_against_safetensors_twin(root, "sdxl_unet_osor");
}

TEST_CASE("conformance: model/flux_fill_osor state_dict.pth read natively equals flux_fill_osor.lora.safetensors") {
  OSOR_REQUIRE_CONFORMANCE(root, "model/flux_fill_osor.state_dict.pth");
  check_against_safetensors_twin(root, "flux_fill_osor");
}
