#include "adapters/identity.h"

#include <ATen/ATen.h>

#include <utility>

#include "adapters/error.h"

namespace osor::adapters {
namespace {

class IdentityRemover final : public Remover {
 public:
  explicit IdentityRemover(std::string id) : id_(std::move(id)) {}
  std::string id() const override { return id_; }
  RemovalOutput remove(const RemovalInput& input) override {
    RemovalOutput out;
    out.image = input.image.clone();
    out.source_file = input.image_path;  // the output is the input file: linked, not encoded again
    return out;
  }
  bool thread_safe() const override { return true; }

 private:
  std::string id_;
};

}  // namespace

std::unique_ptr<Remover> make_identity_remover(const MethodSpec& spec, const RemoverContext& context) {
  if (!spec.options.empty()) throw AdapterError("method " + spec.name + " takes no options (got " + spec.text() + ")");
  return std::make_unique<IdentityRemover>(spec.text());
}

}  // namespace osor::adapters
