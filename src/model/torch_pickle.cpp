#include "psmflow/model/torch_pickle.hpp"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <unordered_map>

#include "psmflow/core/error.hpp"

namespace psmflow::model {
namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// The Python objects a state_dict pickle can hold, reduced to what a tensor file needs.
struct Value {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor, kMark };
  Kind kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;  // string, "module.name" of a global, or a storage's record key
  std::vector<ValuePtr> items;
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;
  torch::Tensor tensor;  // a tensor, or a storage's flat data
};

c10::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, c10::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat}, {"torch.DoubleStorage", torch::kDouble},
      {"torch.HalfStorage", torch::kHalf},   {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},   {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort}, {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},   {"torch.BoolStorage", torch::kBool}};
  auto it = types.find(global);
  if (it == types.end()) throw std::runtime_error("unsupported storage type " + global);
  return it->second;
}

// Bounds on what a hostile pickle can make the reader do (a real state_dict is far inside them).
constexpr size_t kMaxValues = 1000000;    // objects made (a state_dict makes a few per tensor)
constexpr size_t kMaxDepth = 100;           // nesting of dicts in the result
constexpr int64_t kMaxTensorBytesFactor = 4;  // tensor copies: at most 4x the bytes of all storages, + 1 MB
constexpr int64_t kTensorBytesSlack = 1 << 20;

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& zip, const char* data, size_t size)
      : zip_(zip), p_(data), end_(data + size) {}
  // A pickle can make values hold themselves (APPEND after DUP) or nest a million deep; emptying
  // every value here frees them without cycles and without a recursive destructor chain.
  ~Unpickler() {
    for (auto& v : values_) {
      v->items.clear();
      v->entries.clear();
    }
  }
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  ValuePtr run();

 private:
  uint8_t byte() {
    need(1);
    return static_cast<uint8_t>(*p_++);
  }
  template <typename T>
  T le() {  // little-endian fixed-width field
    need(sizeof(T));
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  std::string bytes(size_t n) {
    need(n);
    std::string s(p_, n);
    p_ += n;
    return s;
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) throw std::runtime_error("truncated pickle (GLOBAL without newline)");
    std::string s(p_, nl - p_);
    p_ = nl + 1;
    return s;
  }
  void need(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) throw std::runtime_error("truncated pickle");
  }
  ValuePtr pop() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle (stack underflow)");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.empty()) throw std::runtime_error("malformed pickle (empty stack)");
    return stack_.back();
  }
  Value& list_on_top() {
    if (top()->kind != Value::kList) throw std::runtime_error("malformed pickle (APPEND to a non-list)");
    return *top();
  }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) throw std::runtime_error("malformed pickle (no MARK)");
    std::vector<ValuePtr> items(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void memo_put(int64_t k) {
    if (memo_.size() >= kMaxValues) throw std::runtime_error("pickle memo holds more than " + std::to_string(kMaxValues) + " entries");
    memo_[k] = top();
  }
  ValuePtr memo_get(int64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("malformed pickle (unknown memo " + std::to_string(k) + ")");
    return it->second;
  }
  ValuePtr make(Value::Kind kind) {  // every value is kept until the end (see ~Unpickler)
    if (values_.size() >= kMaxValues) throw std::runtime_error("pickle makes more than " + std::to_string(kMaxValues) + " objects");
    values_.push_back(std::make_shared<Value>());
    values_.back()->kind = kind;
    return values_.back();
  }
  ValuePtr global(const std::string& module, const std::string& name) {
    auto v = make(Value::kGlobal);
    v->s = module + "." + name;
    return v;
  }
  void step(uint8_t op);
  void set_items(ValuePtr dict, const std::vector<ValuePtr>& kv);
  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args);
  ValuePtr persistent_load(const ValuePtr& pid);
  ValuePtr rebuild_tensor(const std::vector<ValuePtr>& a);

  caffe2::serialize::PyTorchStreamReader& zip_;
  const char* p_;
  const char* end_;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<int64_t, ValuePtr> memo_;
  std::map<std::string, torch::Tensor> storages_;
  std::vector<ValuePtr> values_;
  int64_t storage_bytes_ = 0;
  int64_t tensor_bytes_ = 0;
  bool stopped_ = false;
};

ValuePtr Unpickler::run() {
  while (!stopped_) step(byte());
  if (stack_.size() != 1) throw std::runtime_error("malformed pickle (stack at STOP)");
  return stack_.back();
}

std::vector<int64_t> ints_of(const ValuePtr& v, const char* what) {
  if (v->kind != Value::kTuple) throw std::runtime_error(std::string("tensor ") + what + " is not a tuple");
  std::vector<int64_t> out;
  for (auto& x : v->items) {
    if (x->kind != Value::kInt) throw std::runtime_error(std::string("tensor ") + what + " holds a non-integer");
    out.push_back(x->i);
  }
  return out;
}

void Unpickler::step(uint8_t op) {
  switch (op) {
    case 0x80:
      byte();
      break;  // PROTO
    case 0x95:
      le<uint64_t>();
      break;  // FRAME
    case '.':
      stopped_ = true;
      break;  // STOP
    case '(':
      marks_.push_back(stack_.size());
      break;
    case '}':
      stack_.push_back(make(Value::kDict));
      break;
    case ']':
      stack_.push_back(make(Value::kList));
      break;
    case ')':
      stack_.push_back(make(Value::kTuple));
      break;
    case 'N':
      stack_.push_back(make(Value::kNone));
      break;
    case 0x88:
    case 0x89: {  // NEWTRUE, NEWFALSE
      auto v = make(Value::kBool);
      v->i = op == 0x88;
      stack_.push_back(v);
      break;
    }
    case 'K':
    case 'M':
    case 'J': {  // BININT1, BININT2, BININT
      auto v = make(Value::kInt);
      v->i = op == 'K' ? byte() : op == 'M' ? le<uint16_t>() : le<int32_t>();
      stack_.push_back(v);
      break;
    }
    case 0x8a: {  // LONG1
      const size_t n = byte();
      if (n > 8) throw std::runtime_error("integer too large");
      uint64_t u = 0;
      for (size_t k = 0; k < n; ++k) u |= static_cast<uint64_t>(byte()) << (8 * k);
      if (n > 0 && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~uint64_t{0} << (8 * n);  // sign-extend
      auto v = make(Value::kInt);
      v->i = static_cast<int64_t>(u);
      stack_.push_back(v);
      break;
    }
    case 'G': {  // BINFLOAT, big-endian double
      uint64_t u = 0;
      for (int k = 0; k < 8; ++k) u = (u << 8) | byte();
      auto v = make(Value::kFloat);
      std::memcpy(&v->f, &u, 8);
      stack_.push_back(v);
      break;
    }
    case 'X':
    case 0x8c:
    case 'B':
    case 'C':
    case 'T':
    case 'U':
    case 0x8d: {  // strings and bytes
      const size_t n = (op == 0x8c || op == 'C' || op == 'U') ? byte() : op == 0x8d ? le<uint64_t>() : le<uint32_t>();
      auto v = make(Value::kString);
      v->s = bytes(n);
      stack_.push_back(v);
      break;
    }
    case 'c': {  // GLOBAL
      auto module = line();
      stack_.push_back(global(module, line()));
      break;
    }
    case 0x93: {  // STACK_GLOBAL
      auto name = pop(), module = pop();
      stack_.push_back(global(module->s, name->s));
      break;
    }
    case 'q':
      memo_put(byte());
      break;  // BINPUT
    case 'r':
      memo_put(le<uint32_t>());
      break;  // LONG_BINPUT
    case 0x94:
      memo_put(static_cast<int64_t>(memo_.size()));
      break;  // MEMOIZE
    case 'h':
      stack_.push_back(memo_get(byte()));
      break;  // BINGET
    case 'j':
      stack_.push_back(memo_get(le<uint32_t>()));
      break;  // LONG_BINGET
    case 't':
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE, TUPLE1..3
      auto v = make(Value::kTuple);
      if (op == 't') {
        v->items = pop_to_mark();
      } else {
        const int n = op - 0x84;
        v->items.resize(n);
        for (int k = n - 1; k >= 0; --k) v->items[k] = pop();
      }
      stack_.push_back(v);
      break;
    }
    case 'a': {  // APPEND
      auto x = pop();
      list_on_top().items.push_back(x);
      break;
    }
    case 'e': {  // APPENDS
      auto xs = pop_to_mark();
      auto& list = list_on_top().items;
      list.insert(list.end(), xs.begin(), xs.end());
      break;
    }
    case 's': {  // SETITEM
      auto v = pop(), k = pop();
      set_items(top(), {k, v});
      break;
    }
    case 'u': {  // SETITEMS
      auto kv = pop_to_mark();
      set_items(top(), kv);
      break;
    }
    case 'R': {  // REDUCE
      auto args = pop(), callable = pop();
      stack_.push_back(reduce(callable, args));
      break;
    }
    case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
      auto args = pop(), cls = pop();
      stack_.push_back(reduce(cls, args));
      break;
    }
    case 'b':
      pop();
      break;  // BUILD: object state (an OrderedDict's _metadata) is not needed
    case 'Q':
      stack_.push_back(persistent_load(pop()));
      break;  // BINPERSID
    case '0':
      pop();
      break;  // POP
    case '1':
      pop_to_mark();
      break;  // POP_MARK
    case '2':
      stack_.push_back(top());
      break;  // DUP
    default: {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", op);
      throw std::runtime_error(std::string("unsupported pickle opcode ") + hex);
    }
  }
}

void Unpickler::set_items(ValuePtr dict, const std::vector<ValuePtr>& kv) {
  if (dict->kind != Value::kDict) throw std::runtime_error("malformed pickle (SETITEM on a non-dict)");
  if (kv.size() % 2) throw std::runtime_error("malformed pickle (odd SETITEMS)");
  for (size_t k = 0; k < kv.size(); k += 2) dict->entries.emplace_back(kv[k], kv[k + 1]);
}

ValuePtr Unpickler::reduce(const ValuePtr& callable, const ValuePtr& args) {
  if (callable->kind != Value::kGlobal || args->kind != Value::kTuple) throw std::runtime_error("malformed REDUCE");
  const auto& name = callable->s;
  const auto& a = args->items;
  if (name == "collections.OrderedDict") {
    auto d = make(Value::kDict);
    if (!a.empty() && a[0]->kind == Value::kList) {
      for (auto& pair : a[0]->items) {
        if (pair->kind == Value::kTuple && pair->items.size() == 2)
          d->entries.emplace_back(pair->items[0], pair->items[1]);
      }
    }
    return d;
  }
  if (name == "torch.jit._pickle.restore_type_tag" && !a.empty()) return a[0];  // LibTorch's typed dicts
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(a);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || a[0]->kind != Value::kTensor) throw std::runtime_error("malformed _rebuild_parameter");
    return a[0];
  }
  throw std::runtime_error("unsupported Python object " + name + " (only dicts of tensors and scalars are read)");
}

ValuePtr Unpickler::persistent_load(const ValuePtr& pid) {
  // ('storage', torch.FloatStorage, key, location, numel)
  if (pid->kind != Value::kTuple || pid->items.size() < 5 || pid->items[0]->s != "storage" ||
      pid->items[1]->kind != Value::kGlobal || pid->items[2]->kind != Value::kString ||
      pid->items[4]->kind != Value::kInt) {
    throw std::runtime_error("unsupported persistent id (expected a storage)");
  }
  const auto dtype = storage_dtype(pid->items[1]->s);
  const auto& key = pid->items[2]->s;
  auto v = make(Value::kStorage);
  v->s = key;
  auto it = storages_.find(key);
  if (it == storages_.end()) {
    const std::string record = "data/" + key;
    if (!zip_.hasRecord(record)) throw std::runtime_error("missing storage record " + record);
    auto [ptr, size] = zip_.getRecord(record);
    const int64_t numel = pid->items[4]->i;
    const size_t element = c10::elementSize(dtype);
    // Compared by division: numel * element can overflow for a hostile numel.
    if (numel < 0 || static_cast<uint64_t>(numel) > size / element) {
      throw std::runtime_error("storage " + record + " holds " + std::to_string(size) + " bytes, but claims " +
                               std::to_string(numel) + " elements of " + std::to_string(element) + " bytes");
    }
    const size_t want = static_cast<size_t>(numel) * element;
    storage_bytes_ += static_cast<int64_t>(want);
    auto t = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    std::memcpy(t.data_ptr(), ptr.get(), want);
    it = storages_.emplace(key, t).first;
  }
  v->tensor = it->second;
  return v;
}

ValuePtr Unpickler::rebuild_tensor(const std::vector<ValuePtr>& a) {
  // (storage, storage_offset, size, stride, ...)
  if (a.size() < 4 || a[0]->kind != Value::kStorage || a[1]->kind != Value::kInt) {
    throw std::runtime_error("malformed _rebuild_tensor_v2 arguments");
  }
  auto size = ints_of(a[2], "size");
  auto stride = ints_of(a[3], "stride");
  if (size.size() != stride.size()) throw std::runtime_error("tensor size and stride differ in length");
  const auto& storage = a[0]->tensor;
  const int64_t offset = a[1]->i;
  if (offset < 0 || offset > storage.numel()) throw std::runtime_error("tensor offset lies outside its storage");
  // The furthest element the view reaches must lie inside the storage, and the view may not hold
  // more elements than the storage (stride 0 would otherwise claim any size); checked products
  // because a hostile size or stride overflows int64.
  int64_t last = offset, numel = 1;
  bool empty = false;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] < 0 || stride[d] < 0) throw std::runtime_error("negative tensor size or stride");
    empty = empty || size[d] == 0;
    int64_t reach = 0;
    if (__builtin_mul_overflow(size[d] == 0 ? 0 : size[d] - 1, stride[d], &reach) ||
        __builtin_add_overflow(last, reach, &last) || __builtin_mul_overflow(numel, size[d], &numel))
      throw std::runtime_error("tensor size or stride overflows");
  }
  if (!empty && last >= storage.numel()) throw std::runtime_error("tensor view exceeds its storage");
  if (numel > storage.numel()) throw std::runtime_error("tensor has more elements than its storage");
  tensor_bytes_ += numel * static_cast<int64_t>(storage.element_size());
  if (tensor_bytes_ > kMaxTensorBytesFactor * storage_bytes_ + kTensorBytesSlack)
    throw std::runtime_error("tensors claim far more bytes than the file's storages hold");
  auto v = make(Value::kTensor);
  v->tensor = storage.as_strided(size, stride, offset).contiguous();
  return v;
}

// `visited` counts entries over the whole walk: a dict shared by two keys is walked twice, so a
// chain of 60 such dicts (a few hundred bytes of pickle) would be walked 2^60 times.
void flatten(const ValuePtr& dict, const std::string& prefix, NamedTensors& out, size_t& visited, size_t depth = 0) {
  if (depth > kMaxDepth) throw std::runtime_error("dicts nested deeper than " + std::to_string(kMaxDepth) + " (or a dict holding itself)");
  for (auto& [k, v] : dict->entries) {
    if (++visited > kMaxValues)
      throw std::runtime_error("dict entries reached more than " + std::to_string(kMaxValues) + " times (shared sub-dicts)");
    if (k->kind != Value::kString) continue;
    const std::string name = prefix + k->s;
    if (v->kind == Value::kTensor) out.emplace_back(name, v->tensor);
    if (v->kind == Value::kDict) flatten(v, name + ".", out, visited, depth + 1);
  }
}

// Why LibTorch's zip reader refused the file, from its first bytes: the PyTorch < 1.6 hint only
// for a file in that legacy format (a pickle, protocol 2, starting 0x80 0x02).
std::string not_a_zip_reason(const std::filesystem::path& file, const std::string& torch_reason) {
  char head[4] = {};
  std::ifstream in(file, std::ios::binary);
  in.read(head, sizeof head);
  const std::streamsize n = in.gcount();
  if (n == 0) return "empty file (not a torch.save file)";
  if (n >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] == 0x02)
    return "a legacy torch.save file (PyTorch < 1.6): load and save it again with a newer torch";
  if (n == 4 && std::memcmp(head, "PK\x03\x04", 4) == 0)
    return "a damaged zip file (truncated or corrupt): " + torch_reason;
  return "not a torch.save file (neither a zip archive nor a legacy pickle)";
}

}  // namespace

NamedTensors read_torch_tensors(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) throw UsageError(file.string() + ": no such file");
  try {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
    try {
      zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
    } catch (const c10::Error& e) {
      throw std::runtime_error(not_a_zip_reason(file, e.what_without_backtrace()));
    }
    if (!zip->hasRecord("data.pkl")) throw std::runtime_error("zip has no data.pkl record: not a torch.save file");
    auto [ptr, size] = zip->getRecord("data.pkl");
    Unpickler unpickler(*zip, static_cast<const char*>(ptr.get()), size);
    auto root = unpickler.run();
    if (root->kind != Value::kDict) throw std::runtime_error("top-level object is not a dict");
    NamedTensors out;
    size_t visited = 0;
    flatten(root, "", out, visited);
    return out;
  } catch (const c10::Error& e) {
    throw UsageError(file.string() + ": " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw UsageError(file.string() + ": " + e.what());
  }
}

}  // namespace psmflow::model
