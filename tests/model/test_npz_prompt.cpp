// OmniPaint's .npz prompt embeddings read natively (model/io/npz_archive.h through model/io/prompt_cache.h), on the
// fixture tests/fixtures/model/tiny_prompt.npz written by make_tiny_prompt_npz.py beside it (np.savez's layout).
#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <string>

#include "model/error.h"
#include "model/io/npz_archive.h"
#include "model/io/prompt_cache.h"
#include "tests/test_paths.h"

TEST_CASE("npz prompt: OmniPaint-style embeddings read with their shapes, dtypes and values") {
  const auto cache = osor::model::read_prompt_cache(osor::test::fixtures_dir() / "model" / "tiny_prompt.npz");
  REQUIRE((cache.prompt_embeds.sizes() == at::IntArrayRef({1, 8, 24})));
  REQUIRE((cache.pooled_prompt_embeds.sizes() == at::IntArrayRef({1, 12})));
  CHECK((cache.prompt_embeds.scalar_type() == at::kFloat));
  CHECK((cache.pooled_prompt_embeds.scalar_type() == at::kHalf));
  CHECK(at::equal(cache.prompt_embeds.reshape({-1}), at::arange(192, at::kFloat) / 64));
  CHECK(at::equal(cache.pooled_prompt_embeds.to(at::kFloat).reshape({-1}), (at::arange(12, at::kFloat) - 6) / 4));
  const auto ids = osor::model::read_npz(osor::test::fixtures_dir() / "model" / "tiny_prompt.npz", {"text_ids"});
  CHECK((ids.at("text_ids").sizes() == at::IntArrayRef({8, 3})));
  CHECK(ids.at("text_ids").abs().sum().item<float>() == 0.0f);
}

TEST_CASE("npz prompt: a compressed archive, a missing array and a malformed .npy are named") {
  const auto dir = osor::test::fixtures_dir() / "model";
  CHECK_THROWS_WITH_AS(osor::model::read_prompt_cache(dir / "tiny_prompt_compressed.npz"),
                       doctest::Contains("is compressed (np.savez_compressed)"), osor::ModelError);
  CHECK_THROWS_WITH_AS(osor::model::read_npz(dir / "tiny_prompt.npz", {"negative_prompt_embeds"}),
                       doctest::Contains("no array 'negative_prompt_embeds'"), osor::ModelError);
  const std::string not_npy = "PK not numpy";
  CHECK_THROWS_WITH_AS(osor::model::parse_npy(reinterpret_cast<const unsigned char*>(not_npy.data()), not_npy.size(), "x"),
                       doctest::Contains("no \\x93NUMPY magic"), osor::ModelError);
  std::string header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  std::string fortran = std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8) +
                        header + std::string(8, '\0');
  CHECK_THROWS_WITH_AS(osor::model::parse_npy(reinterpret_cast<const unsigned char*>(fortran.data()), fortran.size(), "x"),
                       doctest::Contains("Fortran-order"), osor::ModelError);
  std::string ok = fortran;
  ok.replace(ok.find("True"), 4, "False");
  ok.erase(ok.find("\n") - 1, 1);  // keep the header length: one pad space fewer for the extra letter
  const at::Tensor t = osor::model::parse_npy(reinterpret_cast<const unsigned char*>(ok.data()), ok.size(), "x");
  CHECK((t.sizes() == at::IntArrayRef({2})));
}
