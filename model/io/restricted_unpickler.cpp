#include "model/io/restricted_unpickler.h"

#include <cstring>
#include <unordered_map>

#include "model/error.h"

namespace osor::model {

PickleValue* PickleArena::make(PickleValue::Kind kind) {
  values_.push_back(std::make_unique<PickleValue>());
  values_.back()->kind = kind;
  return values_.back().get();
}

std::string pickle_kind_name(const PickleValue& v) {
  using K = PickleValue::Kind;
  switch (v.kind) {
    case K::None: return "None";
    case K::Bool: return "bool";
    case K::Int: case K::BigInt: return "int";
    case K::Float: return "float";
    case K::String: return "str";
    case K::Bytes: return "bytes";
    case K::List: return "list";
    case K::Tuple: return "tuple";
    case K::Dict: return "dict";
    case K::Global: return "global " + v.text;
    default: return v.text;
  }
}

namespace {

using Kind = PickleValue::Kind;

// One pickle being read: the opcode loop of Lib/pickle.py's _Unpickler, restricted to data. MARK starts a new
// stack segment (as pickle's metastack), so an opcode never pops below its mark.
class Unpickler {
 public:
  Unpickler(const unsigned char* data, size_t size, const PickleRules& rules, const std::string& label)
      : p_(data), begin_(data), end_(data + size), rules_(rules), label_(label),
        arena_(std::make_shared<PickleArena>()) {}

  UnpickleResult run();

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw ModelError(label_ + ": pickle at byte " + std::to_string(opcode_at_) + ": " + problem);
  }
  const unsigned char* take(uint64_t n);
  uint64_t read_uint(int bytes);
  std::string read_line();
  std::string read_text(uint64_t n) { return std::string(reinterpret_cast<const char*>(take(n)), n); }

  PickleValue* make(Kind kind) { return arena_->make(kind); }
  void push(PickleValue* v) { stack_.push_back(v); }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue* pop();
  PickleValue* top();
  std::vector<PickleValue*> pop_to_mark();

  bool step(unsigned char op);  // false at STOP
  bool step_scalar(unsigned char op);
  bool step_container(unsigned char op);
  bool step_memo_and_objects(unsigned char op);
  void push_int(int64_t v);
  int64_t parse_decimal(const std::string& text) const;
  void push_long(const unsigned char* bytes, size_t n);
  void push_string(Kind kind, uint64_t n);
  void push_tuple(std::vector<PickleValue*> items);
  void set_items(PickleValue* dict, const std::vector<PickleValue*>& kv);
  void push_global(const std::string& module, const std::string& name);
  void reduce();
  void build();
  void persistent_id(PickleValue* pid);

  const unsigned char* p_;
  const unsigned char* const begin_;
  const unsigned char* const end_;
  size_t opcode_at_ = 0;
  const PickleRules& rules_;
  const std::string& label_;
  std::shared_ptr<PickleArena> arena_;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

const unsigned char* Unpickler::take(uint64_t n) {
  if (n > static_cast<uint64_t>(end_ - p_)) fail("truncated: needs " + std::to_string(n) + " more bytes");
  const unsigned char* at = p_;
  p_ += n;
  return at;
}

uint64_t Unpickler::read_uint(int bytes) {
  const unsigned char* b = take(bytes);
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

std::string Unpickler::read_line() {
  const void* nl = std::memchr(p_, '\n', end_ - p_);
  if (!nl) fail("truncated: a text argument has no end of line");
  std::string line(reinterpret_cast<const char*>(p_), static_cast<const unsigned char*>(nl) - p_);
  p_ = static_cast<const unsigned char*>(nl) + 1;
  return line;
}

PickleValue* Unpickler::pop() {
  if (stack_.size() <= floor()) fail("stack underflow");
  PickleValue* v = stack_.back();
  stack_.pop_back();
  return v;
}

PickleValue* Unpickler::top() {
  if (stack_.size() <= floor()) fail("stack underflow");
  return stack_.back();
}

std::vector<PickleValue*> Unpickler::pop_to_mark() {
  if (marks_.empty()) fail("no MARK on the stack");
  std::vector<PickleValue*> items(stack_.begin() + marks_.back(), stack_.end());
  stack_.resize(marks_.back());
  marks_.pop_back();
  return items;
}

void Unpickler::push_int(int64_t v) {
  PickleValue* value = make(Kind::Int);
  value->integer = v;
  push(value);
}

// INT / LONG text arguments (protocol 0): a decimal that fits 64 bits.
int64_t Unpickler::parse_decimal(const std::string& text) const {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) fail("bad integer literal '" + text.substr(0, 40) + "'");
  return v;
}

// LONG1 / LONG4: little-endian two's complement; up to 8 bytes an Int, beyond a BigInt holding the bytes.
void Unpickler::push_long(const unsigned char* bytes, size_t n) {
  if (n > 8) {
    PickleValue* value = make(Kind::BigInt);
    value->text.assign(reinterpret_cast<const char*>(bytes), n);
    push(value);
    return;
  }
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | bytes[i];
  if (n > 0 && n < 8 && (bytes[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
  push_int(static_cast<int64_t>(v));
}

void Unpickler::push_string(Kind kind, uint64_t n) {
  PickleValue* value = make(kind);
  value->text = read_text(n);
  push(value);
}

void Unpickler::push_tuple(std::vector<PickleValue*> items) {
  PickleValue* t = make(Kind::Tuple);
  t->items.assign(items.begin(), items.end());
  push(t);
}

void Unpickler::set_items(PickleValue* dict, const std::vector<PickleValue*>& kv) {
  if (dict->kind != Kind::Dict) fail("SETITEM(S) on a " + pickle_kind_name(*dict) + ", not a dict");
  if (kv.size() % 2 != 0) fail("SETITEMS with an odd number of items");
  for (size_t i = 0; i < kv.size(); i += 2) dict->entries.emplace_back(kv[i], kv[i + 1]);
}

void Unpickler::push_global(const std::string& module, const std::string& name) {
  const std::string qualified = module + "." + name;
  if (!rules_.global_allowed || !rules_.global_allowed(qualified))
    fail("global '" + qualified + "' is not allowed (only plain tensors and containers are read; nothing is executed)");
  PickleValue* g = make(Kind::Global);
  g->text = qualified;
  push(g);
}

void Unpickler::reduce() {
  PickleValue* args = pop();
  PickleValue* callable = pop();
  if (callable->kind != Kind::Global) fail("REDUCE on a " + pickle_kind_name(*callable) + ", not an allowed global");
  if (args->kind != Kind::Tuple) fail("REDUCE of " + callable->text + " with a " + pickle_kind_name(*args));
  PickleValue* result = rules_.call ? rules_.call(*arena_, callable->text, *args) : nullptr;
  if (!result) fail("cannot call " + callable->text);
  push(result);
}

// BUILD sets an object's state: the only objects here are dicts (an OrderedDict's state is its _metadata
// attribute) and the caller's objects (a tensor's state is its hooks); the state is dropped.
void Unpickler::build() {
  pop();
  PickleValue* target = top();
  if (target->kind != Kind::Dict && target->kind != Kind::Object)
    fail("BUILD on a " + pickle_kind_name(*target) + " (only dicts and tensors take state)");
}

void Unpickler::persistent_id(PickleValue* pid) {
  if (!rules_.persistent_load) fail("a persistent id where none may be");
  PickleValue* v = rules_.persistent_load(*arena_, *pid);
  if (!v) fail("unresolved persistent id");
  push(v);
}

bool Unpickler::step_scalar(unsigned char op) {
  switch (op) {
    case 'N': push(make(Kind::None)); return true;
    case 0x88: case 0x89: { PickleValue* b = make(Kind::Bool); b->boolean = op == 0x88; push(b); return true; }
    case 'J': push_int(static_cast<int32_t>(read_uint(4))); return true;
    case 'K': push_int(static_cast<int64_t>(read_uint(1))); return true;
    case 'M': push_int(static_cast<int64_t>(read_uint(2))); return true;
    case 0x8a: { const uint64_t n = read_uint(1); push_long(take(n), n); return true; }
    case 0x8b: { const uint64_t n = read_uint(4); push_long(take(n), n); return true; }
    case 'I': case 'L': {
      std::string line = read_line();
      if (op == 'I' && (line == "00" || line == "01")) {
        PickleValue* b = make(Kind::Bool);
        b->boolean = line == "01";
        push(b);
        return true;
      }
      if (!line.empty() && line.back() == 'L') line.pop_back();
      push_int(parse_decimal(line));
      return true;
    }
    case 'G': {
      const uint64_t bits = [&] { uint64_t v = 0; const unsigned char* b = take(8); for (int i = 0; i < 8; ++i) v = (v << 8) | b[i]; return v; }();
      PickleValue* f = make(Kind::Float);
      std::memcpy(&f->real, &bits, 8);  // big-endian IEEE 754 double
      push(f);
      return true;
    }
    case 'F': {
      const std::string line = read_line();
      PickleValue* f = make(Kind::Float);
      try { f->real = std::stod(line); } catch (...) { fail("bad float literal '" + line.substr(0, 40) + "'"); }
      push(f);
      return true;
    }
    case 'X': push_string(Kind::String, read_uint(4)); return true;
    case 0x8c: push_string(Kind::String, read_uint(1)); return true;
    case 0x8d: push_string(Kind::String, read_uint(8)); return true;
    case 'T': push_string(Kind::String, read_uint(4)); return true;  // Python 2 str: bytes read as text, as
    case 'U': push_string(Kind::String, read_uint(1)); return true;  // torch.load's default encoding does
    case 'B': push_string(Kind::Bytes, read_uint(4)); return true;
    case 'C': push_string(Kind::Bytes, read_uint(1)); return true;
    case 0x8e: push_string(Kind::Bytes, read_uint(8)); return true;
    default: return step_container(op);
  }
}

bool Unpickler::step_container(unsigned char op) {
  switch (op) {
    case '(': marks_.push_back(stack_.size()); return true;
    case ')': push_tuple({}); return true;
    case 0x85: { PickleValue* a = pop(); push_tuple({a}); return true; }
    case 0x86: { PickleValue* b = pop(); PickleValue* a = pop(); push_tuple({a, b}); return true; }
    case 0x87: { PickleValue* c = pop(); PickleValue* b = pop(); PickleValue* a = pop(); push_tuple({a, b, c}); return true; }
    case 't': push_tuple(pop_to_mark()); return true;
    case ']': push(make(Kind::List)); return true;
    case 0x8f: push(make(Kind::List)); return true;  // a set reads as a list
    case 'l': case 0x91: { auto items = pop_to_mark(); PickleValue* l = make(Kind::List); l->items.assign(items.begin(), items.end()); push(l); return true; }
    case '}': push(make(Kind::Dict)); return true;
    case 'd': { auto kv = pop_to_mark(); PickleValue* d = make(Kind::Dict); set_items(d, kv); push(d); return true; }
    case 'a': case 'e': case 0x90: {
      std::vector<PickleValue*> items = op == 'a' ? std::vector<PickleValue*>{pop()} : pop_to_mark();
      PickleValue* list = top();
      if (list->kind != Kind::List) fail("APPEND(S) on a " + pickle_kind_name(*list) + ", not a list");
      list->items.insert(list->items.end(), items.begin(), items.end());
      return true;
    }
    case 's': { PickleValue* v = pop(); PickleValue* k = pop(); set_items(top(), {k, v}); return true; }
    case 'u': { auto kv = pop_to_mark(); set_items(top(), kv); return true; }
    default: return step_memo_and_objects(op);
  }
}

bool Unpickler::step_memo_and_objects(unsigned char op) {
  const auto get = [&](uint64_t key) {
    const auto it = memo_.find(key);
    if (it == memo_.end()) fail("memo key " + std::to_string(key) + " was never stored");
    push(it->second);
  };
  switch (op) {
    case 'q': memo_[read_uint(1)] = top(); return true;
    case 'r': memo_[read_uint(4)] = top(); return true;
    case 0x94: memo_[memo_.size()] = top(); return true;
    case 'p': { const std::string l = read_line(); try { memo_[std::stoull(l)] = top(); } catch (const std::logic_error&) { fail("bad PUT key"); } return true; }
    case 'h': get(read_uint(1)); return true;
    case 'j': get(read_uint(4)); return true;
    case 'g': { const std::string l = read_line(); uint64_t k = 0; try { k = std::stoull(l); } catch (const std::logic_error&) { fail("bad GET key"); } get(k); return true; }
    case '0': pop(); return true;
    case '1': pop_to_mark(); return true;
    case '2': push(top()); return true;
    case 'c': { const std::string module = read_line(); push_global(module, read_line()); return true; }
    case 0x93: {
      PickleValue* name = pop();
      PickleValue* module = pop();
      if (name->kind != Kind::String || module->kind != Kind::String) fail("STACK_GLOBAL needs two strings");
      push_global(module->text, name->text);
      return true;
    }
    case 'R': reduce(); return true;
    case 'b': build(); return true;
    case 'Q': persistent_id(pop()); return true;
    case 'P': { PickleValue* s = make(Kind::String); s->text = read_line(); persistent_id(s); return true; }
    case 0x80: if (read_uint(1) > 5) fail("pickle protocol above 5"); return true;
    case 0x95: read_uint(8); return true;  // FRAME: a length hint only
    case '.': return false;
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      fail(std::string("opcode ") + hex + " is not allowed or not known (only plain data is read)");
    }
  }
}

bool Unpickler::step(unsigned char op) { return step_scalar(op); }

UnpickleResult Unpickler::run() {
  for (;;) {
    opcode_at_ = static_cast<size_t>(p_ - begin_);
    if (p_ == end_) fail("truncated: the pickle ends without STOP");
    if (!step(*take(1))) break;
  }
  if (stack_.size() != 1 || !marks_.empty()) fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
  return {arena_, stack_.back(), static_cast<size_t>(p_ - begin_)};
}

}  // namespace

UnpickleResult unpickle(const unsigned char* data, size_t size, const PickleRules& rules, const std::string& label) {
  return Unpickler(data, size, rules, label).run();
}

}  // namespace osor::model
