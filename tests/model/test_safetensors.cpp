// The safetensors reader and writer: round trip of every dtype, each malformed-file check with its message
// (duplicate keys and data that does not tile the data section included),
// a seeded mutation fuzz of 100k inputs (only ModelError may come out), and the strict module loader.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <random>

#include "model/error.h"
#include "model/io/module_weights.h"
#include "model/io/safetensors.h"
#include "model/weights_manifest.h"
#include "tests/test_paths.h"

using osor::ModelError;
using osor::model::SafetensorsFile;

namespace {

// A file image from a header text and data bytes (length prefix added).
std::string file_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

std::string parse_error(const std::string& bytes) {
  try {
    SafetensorsFile::parse(bytes.data(), bytes.size(), "test.safetensors");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("safetensors: every dtype and the metadata survive a write/open round trip") {
  const auto dir = osor::test::scratch_dir("safetensors_roundtrip");
  at::manual_seed(3);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"a/f32", at::randn({3, 4})},
      {"b.f16", at::randn({5}).to(at::kHalf)},
      {"c.bf16", at::randn({2, 3}).to(at::kBFloat16)},
      {"d.f64", at::randn({7}, at::kDouble)},
      {"e.i64", at::arange(-5, 6, at::kLong)},
      {"f.i32", at::arange(0, 9, at::kInt).view({3, 3})},
      {"g.u8", at::arange(0, 250, 7).to(at::kByte)},
      {"h.bool", at::rand({4}) > 0.5},
      {"scalar", at::tensor(2.5)},
      {"empty", at::empty({0, 3})},
  };
  const auto path = dir / "all.safetensors";
  osor::model::write_safetensors(path, tensors, {{"format", "pt"}, {"note", "x"}});
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 1);  // no temporary file left
  const SafetensorsFile f = SafetensorsFile::open(path);
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.metadata().at("note") == "x");
  CHECK(f.names().size() == tensors.size());
  for (const auto& [name, t] : tensors) {
    CAPTURE(name);
    const at::Tensor r = f.tensor(name);
    CHECK((r.scalar_type() == t.scalar_type()));
    CHECK((r.sizes() == t.sizes()));
    CHECK(at::equal(r, t));
  }
  CHECK(f.entry("a/f32").dtype == "F32");
  CHECK(f.entry("h.bool").dtype == "BOOL");
  // A tensor outlives the SafetensorsFile that mapped it.
  at::Tensor kept;
  {
    kept = SafetensorsFile::open(path).tensor("d.f64");
  }
  CHECK(at::equal(kept, tensors[3].second));
}

TEST_CASE("safetensors: malformed files are rejected with a message naming the file and the problem") {
  const std::string ok_header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data8(8, '\1');
  REQUIRE(parse_error(file_bytes(ok_header, data8)) == "(no error)");

  CHECK(parse_error("abc") ==
        "weights file test.safetensors: file is 3 bytes, shorter than the 8-byte header length");
  std::string long_header = file_bytes(ok_header, data8);
  long_header[0] = static_cast<char>(0xff);
  long_header[1] = static_cast<char>(0x7f);
  CHECK(parse_error(long_header).find("header length 32767 goes beyond the end of the file") != std::string::npos);
  CHECK(parse_error(file_bytes("{\"x\": [1,", data8)).find("header is not valid JSON") != std::string::npos);
  CHECK(parse_error(file_bytes("[1,2]", "")).find("header is not a JSON object") != std::string::npos);
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab")) ==
        "weights file test.safetensors: tensor 'x' has unknown dtype 'F8_E4M3'");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8)) ==
        "weights file test.safetensors: tensor 'x' has shape [3] × 4 bytes (F32) ≠ its 8 data bytes");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8)) ==
        "weights file test.safetensors: tensor 'x' has data_offsets [0,16] beyond the 8-byte data section "
        "(truncated file?)");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("y":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                               data8)) ==
        "weights file test.safetensors: tensors 'x' and 'y' overlap (data_offsets [0,4] and [2,6])");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", data8))
            .find("with end before begin") != std::string::npos);
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8))
            .find("shape entry is -2, expected a non-negative integer") != std::string::npos);
  // A shape whose element count overflows 64 bits must not wrap around to the byte count.
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})", ""))
            .find("≠ its 0 data bytes") != std::string::npos);
  CHECK(parse_error(file_bytes(R"({"__metadata__":{"a":1}})", "")).find("__metadata__ value of 'a' is not a string") !=
        std::string::npos);
  CHECK(parse_error(file_bytes(R"({"x":{"shape":[2],"data_offsets":[0,8]}})", data8)).find("has no string 'dtype'") !=
        std::string::npos);

  // The same checks through open(), with the path in the message: a truncated download.
  const auto dir = osor::test::scratch_dir("safetensors_malformed");
  const auto path = dir / "w.safetensors";
  osor::model::write_safetensors(path, {{"w", at::ones({64})}});
  const std::string whole = read_file(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(whole.data(), static_cast<std::streamsize>(whole.size() - 10));
  try {
    SafetensorsFile::open(path);
    FAIL("a truncated file was accepted");
  } catch (const ModelError& e) {
    const std::string m = e.what();
    CHECK(m.find(path.string()) != std::string::npos);
    CHECK(m.find("beyond the") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(dir / "absent.safetensors"),
                       doctest::Contains("absent.safetensors: cannot open"), ModelError);
}

TEST_CASE("safetensors: duplicate keys, gaps and trailing bytes are rejected as the reference parser does") {
  const std::string data8(8, '\1');
  const std::string x08 = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  // nlohmann::json alone keeps the last of two equal keys; the reference parser refuses the file.
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                               data8)) == "weights file test.safetensors: tensor 'x' appears twice in the header");
  CHECK(parse_error(file_bytes(R"({"__metadata__":{"a":"1"},)" + x08 + R"(,"__metadata__":{"b":"2"}})", data8)) ==
        "weights file test.safetensors: header has '__metadata__' twice");
  CHECK(parse_error(file_bytes(R"({"__metadata__":{"a":"1","a":"2"},)" + x08 + "}", data8)) ==
        "weights file test.safetensors: __metadata__ has key 'a' twice");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[2],"dtype":"F16","data_offsets":[0,8]}})", data8)) ==
        "weights file test.safetensors: tensor 'x' has key 'dtype' twice");
  // A JSON syntax error after a duplicate is still reported as such.
  CHECK(parse_error(file_bytes(R"({"x":1,"x":2,)", "")).find("header is not valid JSON") != std::string::npos);

  // The data offsets must tile the data section from 0 to its end.
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("y":{"dtype":"F32","shape":[1],"data_offsets":[6,10]}})",
                               std::string(10, '\1'))) ==
        "weights file test.safetensors: 2 bytes between tensors 'x' (data_offsets [0,4]) and 'y' (data_offsets "
        "[6,10]) belong to no tensor");
  CHECK(parse_error(file_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", std::string(12, '\1'))) ==
        "weights file test.safetensors: tensor 'x' has data_offsets [4,12]: the first 4 bytes of the data section "
        "belong to no tensor");
  CHECK(parse_error(file_bytes("{" + x08 + "}", std::string(12, '\1'))) ==
        "weights file test.safetensors: 4 bytes after the last tensor 'x' (data_offsets [0,8]) belong to no tensor "
        "(the data section is 12 bytes)");
  CHECK(parse_error(file_bytes(R"({"__metadata__":{"a":"b"}})", "abc")) ==
        "weights file test.safetensors: has no tensors but a 3-byte data section");

  // Still accepted: empty tensors anywhere along the tiling, a header padded with spaces to 8-byte alignment,
  // metadata without tensors and without data.
  CHECK(parse_error(file_bytes(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)" + x08 +
                                   R"(,"z":{"dtype":"U8","shape":[0,3],"data_offsets":[8,8]}})",
                               data8)) == "(no error)");
  CHECK(parse_error(file_bytes("{" + x08 + "}   ", data8)) == "(no error)");
  CHECK(parse_error(file_bytes(R"({"__metadata__":{"a":"b"}})", "")) == "(no error)");

  // Through open(), with the path in the message: bytes appended to a file our writer made.
  const auto dir = osor::test::scratch_dir("safetensors_tiling");
  const auto path = dir / "w.safetensors";
  osor::model::write_safetensors(path, {{"a", at::ones({3})}, {"b", at::zeros({0})}, {"c", at::ones({2}, at::kLong)}});
  REQUIRE(SafetensorsFile::open(path).names().size() == 3);
  std::ofstream(path, std::ios::binary | std::ios::app) << "tail";
  const std::string expected = "weights file " + path.string() +
                               ": 4 bytes after the last tensor 'c' (data_offsets [12,28]) belong to no tensor (the "
                               "data section is 32 bytes)";
  CHECK_THROWS_WITH_AS(SafetensorsFile::open(path), expected.c_str(), ModelError);
}

TEST_CASE("safetensors: 100k seeded random mutations never crash the reader (only ModelError)") {
  const std::string base = file_bytes(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},"c":{"dtype":"U8","shape":[3],"data_offsets":[40,43]},)"
      R"("d":{"dtype":"BF16","shape":[1,2],"data_offsets":[43,47]}})",
      std::string(47, '\x3f'));
  std::mt19937_64 rng(20261128);
  const std::string digits = "0123456789";
  int64_t accepted = 0, rejected = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    std::string m = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (rng() % 6) {
        case 0: m.resize(rng() % (m.size() + 1)); break;                      // truncate
        case 1: if (!m.empty()) m[rng() % m.size()] ^= static_cast<char>(1u << (rng() % 8)); break;  // flip a bit
        case 2: if (!m.empty()) m[rng() % m.size()] = static_cast<char>(rng()); break;              // random byte
        case 3: {  // edit a number in the header: replace one digit or insert digits
          std::vector<size_t> pos;
          for (size_t i = 8; i < m.size() && i < 8 + 400; ++i)
            if (std::isdigit(static_cast<unsigned char>(m[i]))) pos.push_back(i);
          if (pos.empty()) break;
          const size_t p = pos[rng() % pos.size()];
          if (rng() % 2) m[p] = digits[rng() % 10];
          else m.insert(p, std::string(1 + rng() % 12, digits[rng() % 10]));
          break;
        }
        case 4: if (m.size() >= 8) m[rng() % 8] = static_cast<char>(rng()); break;  // header length byte
        case 5: m += std::string(rng() % 16, static_cast<char>(rng())); break;         // extra bytes
      }
    }
    try {
      const SafetensorsFile f = SafetensorsFile::parse(m.data(), m.size(), "fuzz");
      // Every accepted tensor must be readable inside the buffer.
      for (const auto& name : f.names()) {
        const at::Tensor t = f.tensor(name);
        if (t.numel() > 0) (void)t.view(-1)[t.numel() - 1].item<double>();
      }
      ++accepted;
    } catch (const ModelError&) {
      ++rejected;
    }
  }
  MESSAGE("fuzz: " << accepted << " accepted, " << rejected << " rejected");
  CHECK(accepted + rejected == 100000);
  CHECK(rejected > 50000);
}

namespace {
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    bn = register_module("bn", torch::nn::BatchNorm1d(2));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::BatchNorm1d bn{nullptr};
};
TORCH_MODULE(Tiny);
}  // namespace

TEST_CASE("load_module_weights: a lookup by parameter name, strict about missing, unexpected and mismatched keys") {
  const auto dir = osor::test::scratch_dir("module_weights");
  Tiny tiny;
  const at::Tensor w = at::arange(6, at::kDouble).view({2, 3});  // F64 in the file, converted to the module's F32
  std::vector<std::pair<std::string, at::Tensor>> full = {
      {"fc.weight", w}, {"fc.bias", at::ones({2})}, {"bn.weight", at::ones({2})}, {"bn.bias", at::zeros({2})},
      {"bn.running_mean", at::zeros({2})}, {"bn.running_var", at::ones({2})}, {"head.weight", at::ones({1})}};
  osor::model::write_safetensors(dir / "a.safetensors", full);
  osor::model::WeightsLoadOptions options;
  options.ignore_key_prefixes = {"head."};
  options.optional_module_suffixes = {"num_batches_tracked"};
  osor::model::load_module_weights(*tiny, {dir / "a.safetensors"}, options);
  CHECK(at::equal(tiny->fc->weight, w.to(at::kFloat)));

  // Without the ignore rule: an unexpected key; without bn.* and fc.bias: missing keys; a wrong shape.
  std::vector<std::pair<std::string, at::Tensor>> bad = {{"fc.weight", at::zeros({3, 2})}, {"extra", at::zeros({1})}};
  osor::model::write_safetensors(dir / "b.safetensors", bad);
  try {
    osor::model::load_module_weights(*tiny, {dir / "b.safetensors"});
    FAIL("loading a mismatched file succeeded");
  } catch (const ModelError& e) {
    const std::string m = e.what();
    MESSAGE(m);
    CHECK(m.find("b.safetensors does not fit the module") != std::string::npos);
    CHECK(m.find("6 missing keys: fc.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var, "
                 "bn.num_batches_tracked") != std::string::npos);
    CHECK(m.find("1 unexpected keys: extra") != std::string::npos);
    CHECK(m.find("fc.weight has shape [3,2] in") != std::string::npos);
    CHECK(m.find("expected [2,3]") != std::string::npos);
  }
  // The module keeps its values when loading fails.
  CHECK(at::equal(tiny->fc->weight, w.to(at::kFloat)));
  // A key present in two files.
  CHECK_THROWS_WITH_AS(osor::model::load_module_weights(*tiny, {dir / "a.safetensors", dir / "a.safetensors"}, options),
                       doctest::Contains("key bn.bias is in both"), ModelError);
}

TEST_CASE("weights manifest: fixed file names, directory resolution and the missing-file message") {
  CHECK(osor::model::weights_file_info("inception-fid").relative_path == "pt_inception-2015-12-05.safetensors");
  CHECK(osor::model::weights_file_info("lpips-alex").relative_path == "lpips_alex_v0.1.safetensors");
  CHECK(osor::model::weights_file_info("clip-weights").relative_path == "clip-vit-large-patch14-336/model.safetensors");
  CHECK_THROWS_WITH_AS(osor::model::weights_file_info("nope"), doctest::Contains("unknown weights file id 'nope'"),
                       ModelError);
  CHECK(osor::model::resolve_weights_dir("/x/y") == "/x/y");
  const auto dir = osor::test::scratch_dir("weights_manifest");
  try {
    osor::model::require_weights_file(dir, "alexnet");
    FAIL("a missing file was found");
  } catch (const ModelError& e) {
    const std::string m = e.what();
    CHECK(m.find("missing weights file " + (dir / "alexnet.safetensors").string() + " needed by lpips (alex trunk)") == 0);
    CHECK(m.find("get it from https://download.pytorch.org/models/alexnet-owt-7be5be79.pth") != std::string::npos);
  }
  std::ofstream(dir / "alexnet.safetensors") << "x";
  CHECK(osor::model::require_weights_file(dir, "alexnet") == dir / "alexnet.safetensors");
}
