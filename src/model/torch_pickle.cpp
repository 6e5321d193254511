#include "psmflow/model/torch_pickle.hpp"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
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

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

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

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& zip, const char* data, size_t size)
      : zip_(zip), p_(data), end_(data + size) {}
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
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty() || marks_.back() > stack_.size()) throw std::runtime_error("malformed pickle (no MARK)");
    std::vector<ValuePtr> items(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  ValuePtr memo_get(int64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("malformed pickle (unknown memo " + std::to_string(k) + ")");
    return it->second;
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
      memo_[byte()] = top();
      break;  // BINPUT
    case 'r':
      memo_[le<uint32_t>()] = top();
      break;  // LONG_BINPUT
    case 0x94:
      memo_[memo_.size()] = top();
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
      top()->items.push_back(x);
      break;
    }
    case 'e': {  // APPENDS
      auto xs = pop_to_mark();
      auto& list = top()->items;
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
    const size_t want = static_cast<size_t>(numel) * c10::elementSize(dtype);
    if (numel < 0 || size < want) {
      throw std::runtime_error("storage " + record + " holds " + std::to_string(size) + " bytes, expected " +
                               std::to_string(want));
    }
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
  int64_t last = a[1]->i;  // the furthest element the view reaches must lie inside the storage
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] < 0 || stride[d] < 0) throw std::runtime_error("negative tensor size or stride");
    if (size[d] == 0) last = -1;
    if (last >= 0) last += (size[d] - 1) * stride[d];
  }
  if (a[1]->i < 0 || last >= storage.numel()) throw std::runtime_error("tensor view exceeds its storage");
  auto v = make(Value::kTensor);
  v->tensor = storage.as_strided(size, stride, a[1]->i).contiguous();
  return v;
}

void flatten(const ValuePtr& dict, const std::string& prefix, NamedTensors& out) {
  for (auto& [k, v] : dict->entries) {
    if (k->kind != Value::kString) continue;
    const std::string name = prefix + k->s;
    if (v->kind == Value::kTensor) out.emplace_back(name, v->tensor);
    if (v->kind == Value::kDict) flatten(v, name + ".", out);
  }
}

}  // namespace

NamedTensors read_torch_tensors(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) throw UsageError(file.string() + ": no such file");
  try {
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
    try {
      zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
    } catch (const c10::Error&) {
      throw std::runtime_error(
          "not a torch.save zip file (files from PyTorch < 1.6 need re-saving with a newer torch)");
    }
    if (!zip->hasRecord("data.pkl")) throw std::runtime_error("zip has no data.pkl record: not a torch.save file");
    auto [ptr, size] = zip->getRecord("data.pkl");
    Unpickler unpickler(*zip, static_cast<const char*>(ptr.get()), size);
    auto root = unpickler.run();
    if (root->kind != Value::kDict) throw std::runtime_error("top-level object is not a dict");
    NamedTensors out;
    flatten(root, "", out);
    return out;
  } catch (const c10::Error& e) {
    throw UsageError(file.string() + ": " + e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    throw UsageError(file.string() + ": " + e.what());
  }
}

}  // namespace psmflow::model
