#include "model/io/pytorch_checkpoint.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "model/error.h"
#include "model/io/restricted_unpickler.h"
#include "model/io/zip_archive.h"

namespace osor::model {

struct PytorchCheckpoint::Buffer {
  const unsigned char* data = nullptr;
  size_t size = 0;
  void* mapping = nullptr;
  std::vector<unsigned char> copy;
  ~Buffer() {
    if (mapping) ::munmap(mapping, size);
  }
};

namespace {

using Kind = PickleValue::Kind;

struct StorageType {
  const char* global;
  const char* dtype;
  size_t itemsize;
};

// torch.save names a storage by its legacy typed class; the tensor's dtype is the storage's.
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", "F32", 4},  {"torch.HalfStorage", "F16", 2},  {"torch.BFloat16Storage", "BF16", 2},
    {"torch.DoubleStorage", "F64", 8}, {"torch.LongStorage", "I64", 8},  {"torch.IntStorage", "I32", 4},
    {"torch.ShortStorage", "I16", 2},  {"torch.CharStorage", "I8", 1},   {"torch.ByteStorage", "U8", 1},
    {"torch.BoolStorage", "BOOL", 1},
};

const StorageType* find_storage_type(const std::string& global) {
  for (const auto& t : kStorageTypes)
    if (global == t.global) return &t;
  return nullptr;
}

const std::set<std::string> kAllowedCallables = {
    "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"};

// 0x1950a86a20f9469cfc6c as pickle's LONG1 writes it: little-endian two's complement.
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr int64_t kLegacyProtocolVersion = 1001;
constexpr int kMaxNesting = 64;
constexpr size_t kMaxDims = 64;

struct RootStorage {
  const StorageType* type = nullptr;
  uint64_t numel = 0;
  const unsigned char* bytes = nullptr;  // set once its data is located
};

struct StorageView {
  std::string root_key;
  uint64_t element_offset = 0, numel = 0;
};

struct TensorRecord {
  size_t storage = 0;
  uint64_t offset = 0;
  std::vector<int64_t> size, stride;
};

}  // namespace

// Reads one checkpoint: the pickle(s) build storage and tensor records, the storages' bytes are located, then the
// dict tree is flattened into named tensors.
class CheckpointReader {
 public:
  CheckpointReader(std::shared_ptr<const PytorchCheckpoint::Buffer> buffer, std::string label)
      : buffer_(std::move(buffer)), label_(std::move(label)) {}
  PytorchCheckpoint read();

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw ModelError("checkpoint " + label_ + ": " + problem); }
  PickleRules rules(bool with_storages);
  PickleValue* load_storage(PickleArena& arena, const PickleValue& pid);
  RootStorage& declare_root(const std::string& key, const std::string& type_global, const PickleValue& numel);
  PickleValue* call(PickleArena& arena, const std::string& callable, const PickleValue& args);
  PickleValue* ordered_dict(PickleArena& arena, const PickleValue& args);
  PickleValue* rebuild_tensor(PickleArena& arena, const PickleValue& args);
  const PickleValue* read_zip();
  const PickleValue* read_legacy();
  UnpickleResult read_pickle(size_t& offset, bool with_storages, const std::string& part);
  void read_legacy_storages(const PickleValue& keys, size_t offset);
  void flatten(const PickleValue& value, const std::string& name, int depth, PytorchCheckpoint& out);
  CheckpointTensor materialize(const TensorRecord& t, const std::string& name, PytorchCheckpoint& out);

  std::shared_ptr<const PytorchCheckpoint::Buffer> buffer_;
  std::string label_;
  const StoredZipArchive* zip_ = nullptr;
  std::string zip_prefix_;
  std::map<std::string, RootStorage> roots_;
  std::vector<StorageView> storages_;
  std::vector<TensorRecord> tensors_;
  std::vector<std::shared_ptr<PickleArena>> arenas_;
};

namespace {

int64_t int_of(const PickleValue& v, const std::string& what, const std::string& label) {
  if (v.kind != Kind::Int) throw ModelError("checkpoint " + label + ": " + what + " is a " + pickle_kind_name(v) + ", not an int");
  return v.integer;
}

const std::string& string_of(const PickleValue& v, const std::string& what, const std::string& label) {
  if (v.kind != Kind::String) throw ModelError("checkpoint " + label + ": " + what + " is a " + pickle_kind_name(v) + ", not a str");
  return v.text;
}

std::vector<int64_t> ints_of(const PickleValue& v, const std::string& what, const std::string& label) {
  if (v.kind != Kind::Tuple && v.kind != Kind::List)
    throw ModelError("checkpoint " + label + ": " + what + " is a " + pickle_kind_name(v) + ", not a tuple");
  if (v.items.size() > kMaxDims) throw ModelError("checkpoint " + label + ": " + what + " has more than 64 dimensions");
  std::vector<int64_t> out;
  for (const PickleValue* item : v.items) {
    out.push_back(int_of(*item, what, label));
    if (out.back() < 0) throw ModelError("checkpoint " + label + ": " + what + " has a negative entry");
  }
  return out;
}

}  // namespace

PickleRules CheckpointReader::rules(bool with_storages) {
  PickleRules r;
  if (!with_storages) return r;  // the legacy format's header pickles and key list are plain data
  r.global_allowed = [](const std::string& g) { return kAllowedCallables.count(g) || find_storage_type(g); };
  r.call = [this](PickleArena& a, const std::string& c, const PickleValue& args) { return call(a, c, args); };
  r.persistent_load = [this](PickleArena& a, const PickleValue& pid) { return load_storage(a, pid); };
  return r;
}

RootStorage& CheckpointReader::declare_root(const std::string& key, const std::string& type_global,
                                            const PickleValue& numel_value) {
  const StorageType* type = find_storage_type(type_global);
  if (!type) fail("storage " + key + " has type " + type_global + ", not a typed storage");
  const int64_t numel = int_of(numel_value, "the size of storage " + key, label_);
  if (numel < 0 || static_cast<uint64_t>(numel) > buffer_->size / type->itemsize)
    fail("storage " + key + " claims " + std::to_string(numel) + " elements, more than the file holds");
  auto [it, inserted] = roots_.try_emplace(key);
  if (!inserted && (it->second.type != type || it->second.numel != static_cast<uint64_t>(numel)))
    fail("storage " + key + " is declared twice with different types or sizes");
  it->second.type = type;
  it->second.numel = static_cast<uint64_t>(numel);
  return it->second;
}

// ('storage', type, key, location, numel) in the zip format; the legacy format adds a view: None or
// (view_key, element offset, numel) of a slice of the root storage.
PickleValue* CheckpointReader::load_storage(PickleArena& arena, const PickleValue& pid) {
  const bool legacy = zip_ == nullptr;
  if (pid.kind != Kind::Tuple || pid.items.size() != (legacy ? 6u : 5u) || pid.items[0]->kind != Kind::String ||
      pid.items[0]->text != "storage" || pid.items[1]->kind != Kind::Global)
    fail("a persistent id that is not ('storage', type, key, location, numel" + std::string(legacy ? ", view)" : ")"));
  const std::string& key = string_of(*pid.items[2], "a storage key", label_);
  RootStorage& root = declare_root(key, pid.items[1]->text, *pid.items[4]);
  StorageView view{key, 0, root.numel};
  if (!legacy && !root.bytes) {
    const ZipEntry* entry = zip_->find(zip_prefix_ + "/data/" + key);
    if (!entry) fail("storage record " + zip_prefix_ + "/data/" + key + " is missing");
    const ByteSpan span = zip_->data(*entry);
    if (span.size / root.type->itemsize < root.numel)
      fail("storage record " + entry->name + " holds " + std::to_string(span.size) + " bytes, fewer than its " +
           std::to_string(root.numel) + " elements need");
    root.bytes = span.data;
  }
  if (legacy && pid.items[5]->kind != Kind::None) {
    const PickleValue& v = *pid.items[5];
    if (v.kind != Kind::Tuple || v.items.size() != 3) fail("storage " + key + " has a malformed view");
    const int64_t offset = int_of(*v.items[1], "a storage view offset", label_);
    const int64_t numel = int_of(*v.items[2], "a storage view size", label_);
    if (offset < 0 || numel < 0 || static_cast<uint64_t>(offset) > root.numel ||
        static_cast<uint64_t>(numel) > root.numel - offset)
      fail("a view of storage " + key + " lies outside it");
    view = {key, static_cast<uint64_t>(offset), static_cast<uint64_t>(numel)};
  }
  storages_.push_back(view);
  PickleValue* value = arena.make(Kind::Object);
  value->text = "storage";
  value->integer = static_cast<int64_t>(storages_.size() - 1);
  return value;
}

PickleValue* CheckpointReader::call(PickleArena& arena, const std::string& callable, const PickleValue& args) {
  if (callable == "collections.OrderedDict") return ordered_dict(arena, args);
  if (callable == "torch._utils._rebuild_tensor_v2" || callable == "torch._utils._rebuild_tensor")
    return rebuild_tensor(arena, args);
  if (callable == "torch._utils._rebuild_parameter" || callable == "torch._utils._rebuild_parameter_with_state") {
    // (data, requires_grad, backward_hooks[, state]): a Parameter is its data here.
    if (args.items.empty() || args.items[0]->kind != Kind::Object || args.items[0]->text != "tensor")
      fail(callable + " without a tensor");
    return const_cast<PickleValue*>(args.items[0]);
  }
  fail("cannot call " + callable);
}

// OrderedDict() or OrderedDict([(key, value), ...]).
PickleValue* CheckpointReader::ordered_dict(PickleArena& arena, const PickleValue& args) {
  PickleValue* dict = arena.make(Kind::Dict);
  if (args.items.empty()) return dict;
  const PickleValue& pairs = *args.items[0];
  if (args.items.size() != 1 || (pairs.kind != Kind::List && pairs.kind != Kind::Tuple))
    fail("OrderedDict called with arguments other than a list of pairs");
  for (const PickleValue* pair : pairs.items) {
    if ((pair->kind != Kind::Tuple && pair->kind != Kind::List) || pair->items.size() != 2)
      fail("OrderedDict called with an item that is not a pair");
    dict->entries.emplace_back(pair->items[0], pair->items[1]);
  }
  return dict;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) and
// _rebuild_tensor(storage, storage_offset, size, stride): recorded now, read once the storages' bytes are located.
PickleValue* CheckpointReader::rebuild_tensor(PickleArena& arena, const PickleValue& args) {
  if (args.items.size() < 4 || args.items[0]->kind != Kind::Object || args.items[0]->text != "storage")
    fail("a tensor rebuilt from something other than (storage, offset, size, stride, ...)");
  TensorRecord t;
  t.storage = static_cast<size_t>(args.items[0]->integer);
  const int64_t offset = int_of(*args.items[1], "a tensor's storage offset", label_);
  if (offset < 0) fail("a tensor has a negative storage offset");
  t.offset = static_cast<uint64_t>(offset);
  t.size = ints_of(*args.items[2], "a tensor's size", label_);
  t.stride = ints_of(*args.items[3], "a tensor's stride", label_);
  if (t.size.size() != t.stride.size()) fail("a tensor's size and stride differ in length");
  tensors_.push_back(std::move(t));
  PickleValue* value = arena.make(Kind::Object);
  value->text = "tensor";
  value->integer = static_cast<int64_t>(tensors_.size() - 1);
  return value;
}

UnpickleResult CheckpointReader::read_pickle(size_t& offset, bool with_storages, const std::string& part) {
  if (offset >= buffer_->size) fail("truncated: the " + part + " is missing");
  UnpickleResult r = unpickle(buffer_->data + offset, buffer_->size - offset, rules(with_storages),
                              "checkpoint " + label_ + " (" + part + ")");
  offset += r.consumed;
  arenas_.push_back(r.arena);
  return r;
}

const PickleValue* CheckpointReader::read_zip() {
  const ZipEntry* data_pkl = nullptr;
  for (const ZipEntry& e : zip_->entries()) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos || e.name.compare(slash, std::string::npos, "/data.pkl") != 0) continue;
    if (data_pkl) fail("the zip archive holds two data.pkl records");
    data_pkl = &e;
    zip_prefix_ = e.name.substr(0, slash);
  }
  if (!data_pkl) {
    const bool torchscript = std::any_of(zip_->entries().begin(), zip_->entries().end(),
                                         [](const ZipEntry& e) { return e.name.find("/constants.pkl") != std::string::npos; });
    fail(torchscript ? "a TorchScript archive (torch.jit.save), not a torch.save checkpoint"
                     : "no <archive>/data.pkl record: not a torch.save zip checkpoint");
  }
  if (const ZipEntry* order = zip_->find(zip_prefix_ + "/byteorder")) {
    const ByteSpan b = zip_->data(*order);
    const std::string text(reinterpret_cast<const char*>(b.data), b.size);
    if (text != "little") fail("byteorder '" + text.substr(0, 16) + "': only little-endian checkpoints are read");
  }
  const ByteSpan pkl = zip_->data(*data_pkl);
  const UnpickleResult r = unpickle(pkl.data, pkl.size, rules(true), "checkpoint " + label_ + " (" + data_pkl->name + ")");
  arenas_.push_back(r.arena);
  return r.root;
}

const PickleValue* CheckpointReader::read_legacy() {
  size_t offset = 0;
  const PickleValue* magic = read_pickle(offset, false, "magic number").root;
  if (magic->kind != Kind::BigInt || magic->text != kLegacyMagic)
    fail("a pickle without torch.save's magic number: not a PyTorch checkpoint");
  const PickleValue* protocol = read_pickle(offset, false, "protocol version").root;
  if (int_of(*protocol, "the protocol version", label_) != kLegacyProtocolVersion)
    fail("legacy protocol version " + std::to_string(protocol->integer) + ", expected 1001");
  const PickleValue* sys_info = read_pickle(offset, false, "sys_info").root;
  for (const auto& [k, v] : sys_info->entries)
    if (k->kind == Kind::String && k->text == "little_endian" && v->kind == Kind::Bool && !v->boolean)
      fail("saved on a big-endian machine; only little-endian checkpoints are read");
  const PickleValue* root = read_pickle(offset, true, "object").root;
  const PickleValue* keys = read_pickle(offset, false, "storage key list").root;
  read_legacy_storages(*keys, offset);
  return root;
}

// After the key list: per key an int64 element count and the storage's raw bytes.
void CheckpointReader::read_legacy_storages(const PickleValue& keys, size_t offset) {
  if (keys.kind != Kind::List) fail("the storage key list is a " + pickle_kind_name(keys));
  for (const PickleValue* key_value : keys.items) {
    const std::string& key = string_of(*key_value, "a storage key", label_);
    const auto it = roots_.find(key);
    if (it == roots_.end()) fail("the key list names storage " + key + ", which no tensor uses");
    RootStorage& root = it->second;
    if (buffer_->size - offset < 8) fail("truncated: storage " + key + " is missing");
    uint64_t numel = 0;
    for (int i = 7; i >= 0; --i) numel = (numel << 8) | buffer_->data[offset + i];
    offset += 8;
    if (numel != root.numel)
      fail("storage " + key + " holds " + std::to_string(numel) + " elements, the pickle said " + std::to_string(root.numel));
    if ((buffer_->size - offset) / root.type->itemsize < numel)
      fail("truncated: storage " + key + " needs " + std::to_string(numel * root.type->itemsize) + " bytes, " +
           std::to_string(buffer_->size - offset) + " are left");
    root.bytes = buffer_->data + offset;
    offset += numel * root.type->itemsize;
  }
  for (const auto& [key, root] : roots_)
    if (!root.bytes) fail("storage " + key + " is used but not in the key list");
}

void CheckpointReader::flatten(const PickleValue& value, const std::string& name, int depth, PytorchCheckpoint& out) {
  if (value.kind == Kind::Object && value.text == "tensor") {
    out.tensors_.push_back(materialize(tensors_.at(static_cast<size_t>(value.integer)), name, out));
    return;
  }
  if (value.kind != Kind::Dict) {
    out.skipped_.push_back(name + " (" + pickle_kind_name(value) + ")");
    return;
  }
  if (depth > kMaxNesting) fail("dicts nested deeper than " + std::to_string(kMaxNesting) + " levels at '" + name + "'");
  for (const auto& [k, v] : value.entries) {
    std::string key;
    if (k->kind == Kind::String) key = k->text;
    else if (k->kind == Kind::Int) key = std::to_string(k->integer);
    else fail("a dict key of type " + pickle_kind_name(*k) + " under '" + name + "'");
    flatten(*v, name.empty() ? key : name + "." + key, depth + 1, out);
  }
}

namespace {

bool is_row_major(const std::vector<int64_t>& size, const std::vector<int64_t>& stride) {
  int64_t expected = 1;
  for (size_t d = size.size(); d-- > 0;) {
    if (size[d] != 1 && stride[d] != expected) return false;
    expected *= size[d];
  }
  return true;
}

// Copies a strided tensor's elements into `dst` in row-major order, a row at a time.
void copy_strided(const unsigned char* src, size_t item, const std::vector<int64_t>& size,
                  const std::vector<int64_t>& stride, unsigned char* dst) {
  const size_t nd = size.size();
  const int64_t inner = nd ? size[nd - 1] : 1, inner_stride = nd ? stride[nd - 1] : 1;
  std::vector<int64_t> index(nd, 0);
  for (;;) {
    int64_t base = 0;
    for (size_t d = 0; d + 1 < nd; ++d) base += index[d] * stride[d];
    const unsigned char* row = src + base * item;
    for (int64_t j = 0; j < inner; ++j, dst += item) std::memcpy(dst, row + j * inner_stride * item, item);
    size_t d = nd > 0 ? nd - 1 : 0;
    while (d > 0 && ++index[d - 1] == size[d - 1]) index[--d] = 0;
    if (d == 0) return;
  }
}

}  // namespace

CheckpointTensor CheckpointReader::materialize(const TensorRecord& t, const std::string& name, PytorchCheckpoint& out) {
  const StorageView& view = storages_.at(t.storage);
  const RootStorage& root = roots_.at(view.root_key);
  const size_t item = root.type->itemsize;
  CheckpointTensor result{name, root.type->dtype, t.size, nullptr, 0};
  unsigned __int128 numel = 1, last = t.offset;  // 128-bit: no size in the file can overflow these
  for (size_t d = 0; d < t.size.size(); ++d) {
    numel *= static_cast<uint64_t>(t.size[d]);
    if (t.size[d] > 0) last += static_cast<unsigned __int128>(t.size[d] - 1) * static_cast<uint64_t>(t.stride[d]);
    if (numel > (uint64_t{1} << 62)) fail("tensor " + name + " has an implausible size");
  }
  if (numel == 0) return result;
  if (last >= view.numel)
    fail("tensor " + name + " reaches element " + std::to_string(static_cast<uint64_t>(last)) + " of a storage of " +
         std::to_string(view.numel) + " elements");
  const unsigned char* start = root.bytes + (view.element_offset + t.offset) * item;
  result.nbytes = static_cast<uint64_t>(numel) * item;
  if (is_row_major(t.size, t.stride)) {
    result.data = start;
    return result;
  }
  // Strides of 0 (expanded tensors) can make a tensor larger than its storage: bound the copy by the file's size.
  if (result.nbytes > 4 * static_cast<uint64_t>(buffer_->size) + (uint64_t{1} << 26))
    fail("tensor " + name + " would expand to " + std::to_string(result.nbytes) + " bytes");
  out.copies_.emplace_back(result.nbytes);
  copy_strided(start, item, t.size, t.stride, out.copies_.back().data());
  result.data = out.copies_.back().data();
  return result;
}

PytorchCheckpoint CheckpointReader::read() {
  const ByteSpan bytes{buffer_->data, buffer_->size};
  PytorchCheckpoint out;
  out.buffer_ = buffer_;
  const PickleValue* root = nullptr;
  if (looks_like_zip(bytes)) {
    const StoredZipArchive zip = StoredZipArchive::parse(bytes, label_);
    zip_ = &zip;
    root = read_zip();
    zip_ = nullptr;
    out.format_ = "zip";
  } else if (bytes.size > 262 && std::memcmp(bytes.data + 257, "ustar", 5) == 0) {
    fail("the tar format of torch < 0.1.10 is not read; re-save it with a newer torch");
  } else if (bytes.size >= 2 && bytes.data[0] == 0x80) {
    root = read_legacy();
    out.format_ = "legacy";
  } else {
    fail("neither a zip archive nor a legacy torch.save stream");
  }
  if (root->kind != Kind::Dict) fail("the saved object is a " + pickle_kind_name(*root) + ", not a dict of tensors");
  flatten(*root, "", 0, out);
  std::sort(out.tensors_.begin(), out.tensors_.end(),
            [](const CheckpointTensor& a, const CheckpointTensor& b) { return a.name < b.name; });
  for (size_t i = 1; i < out.tensors_.size(); ++i)
    if (out.tensors_[i].name == out.tensors_[i - 1].name) fail("two tensors are named '" + out.tensors_[i].name + "'");
  return out;
}

PytorchCheckpoint PytorchCheckpoint::read(const std::filesystem::path& path) {
  const std::string label = path.string();
  const int fd = ::open(label.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError("checkpoint " + label + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError("checkpoint " + label + ": not a regular file");
  }
  auto buffer = std::make_shared<Buffer>();
  buffer->size = static_cast<size_t>(st.st_size);
  if (buffer->size > 0) {
    void* m = ::mmap(nullptr, buffer->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      throw ModelError("checkpoint " + label + ": cannot map (" + std::strerror(errno) + ")");
    }
    buffer->mapping = m;
    buffer->data = static_cast<const unsigned char*>(m);
  }
  ::close(fd);
  if (buffer->size == 0) throw ModelError("checkpoint " + label + ": empty file");
  return CheckpointReader(buffer, label).read();
}

PytorchCheckpoint PytorchCheckpoint::parse(const void* bytes, size_t size, const std::string& label) {
  auto buffer = std::make_shared<Buffer>();
  buffer->copy.assign(static_cast<const unsigned char*>(bytes), static_cast<const unsigned char*>(bytes) + size);
  buffer->data = buffer->copy.data();
  buffer->size = size;
  if (size == 0) throw ModelError("checkpoint " + label + ": empty file");
  return CheckpointReader(buffer, label).read();
}

const CheckpointTensor* PytorchCheckpoint::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const CheckpointTensor& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

size_t checkpoint_dtype_size(const std::string& dtype) {
  for (const auto& t : kStorageTypes)
    if (dtype == t.dtype) return t.itemsize;
  return 0;
}

}  // namespace osor::model
