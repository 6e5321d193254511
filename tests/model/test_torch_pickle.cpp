// psmflow's torch.save reader against hostile files (issue 16): each claim a file can make about
// its tensors is checked before anything is read or allocated, with an error naming the file.
#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "psmflow/core/error.hpp"
#include "psmflow/model/torch_pickle.hpp"
#include "support/test_support.hpp"

using namespace psmflow;
using psmflow::model::read_torch_tensors;
using namespace std::string_literals;  // the pickles hold NUL bytes

namespace {

// Pickle opcodes, spelled out: the files below are written byte by byte.
std::string str(const std::string& s) {  // BINUNICODE
  std::string out = "X";
  const auto n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), 4);
  return out + s;
}

std::string integer(int64_t v) {  // LONG1 with 8 bytes
  std::string out = "\x8a\x08";
  out.append(reinterpret_cast<const char*>(&v), 8);
  return out;
}

std::string tuple(const std::vector<int64_t>& v) {
  std::string out = "(";
  for (auto x : v) out += integer(x);
  return out + "t";
}

// {'w': _rebuild_tensor_v2(storage('0', FloatStorage, numel), offset, size, stride)}
std::string tensor_pickle(int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                          const std::vector<int64_t>& stride) {
  std::string p = "\x80\x02}(" + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n(";
  p += "(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + integer(numel) + "tQ";
  p += integer(offset) + tuple(size) + tuple(stride) + "tRu.";
  return p;
}

// A torch.save zip holding data.pkl and one storage record data/0 of `storage_bytes` bytes.
std::string write_pt(const test::ScratchDir& dir, const std::string& name, const std::string& pickle,
                     size_t storage_bytes = 16) {
  const auto file = (dir / name).string();
  caffe2::serialize::PyTorchStreamWriter w(file);
  w.writeRecord("data.pkl", pickle.data(), pickle.size());
  std::string storage(storage_bytes, '\0');
  w.writeRecord("data/0", storage.data(), storage.size());
  w.writeEndOfFile();
  return file;
}

void expect_refused(const std::string& file, const std::string& reason) {
  try {
    read_torch_tensors(file);
    ADD_FAILURE() << "no error for " << file << " (expected: " << reason << ")";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(TorchPickle, ReadsTheHandWrittenTensor) {
  test::ScratchDir dir;
  auto t = read_torch_tensors(write_pt(dir, "ok.pt", tensor_pickle(4, 1, {3}, {1})));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].first, "w");
  EXPECT_EQ(t[0].second.numel(), 3);
}

TEST(TorchPickle, RefusesTensorsThatClaimMoreThanTheirStorage) {
  test::ScratchDir dir;
  const int64_t huge = 1000000000000;  // 10^12 elements
  expect_refused(write_pt(dir, "big.pt", tensor_pickle(4, 0, {huge}, {1})), "tensor view exceeds its storage");
  expect_refused(write_pt(dir, "zero_stride.pt", tensor_pickle(4, 0, {huge}, {0})),
                 "tensor has more elements than its storage");
  expect_refused(write_pt(dir, "negative.pt", tensor_pickle(4, 0, {-3}, {1})), "negative tensor size or stride");
  expect_refused(write_pt(dir, "neg_stride.pt", tensor_pickle(4, 0, {2}, {-1})), "negative tensor size or stride");
  expect_refused(write_pt(dir, "overflow.pt", tensor_pickle(4, 0, {int64_t{1} << 62, 8}, {8, int64_t{1} << 62})),
                 "tensor size or stride overflows");
  expect_refused(write_pt(dir, "offset.pt", tensor_pickle(4, 100, {1}, {1})), "tensor offset lies outside its storage");
  expect_refused(write_pt(dir, "neg_offset.pt", tensor_pickle(4, -1, {1}, {1})), "tensor offset lies outside");
  // numel * 4 bytes wraps to 0 in 64 bits: must not pass as fitting the 16-byte record.
  expect_refused(write_pt(dir, "numel.pt", tensor_pickle(int64_t{1} << 62, 0, {1}, {1})), "claims 4611686018427387904");
}

TEST(TorchPickle, RefusesRecursiveDeepAndHugePickles) {
  test::ScratchDir dir;
  // A dict holding itself: {'k': <the dict>}.
  expect_refused(write_pt(dir, "self.pt", "\x80\x02}q\x00"s + str("k") + "h\x00s."s), "nested deeper than 100");
  // 300000 lists nested in each other: freed without a recursive destructor chain.
  std::string deep = "\x80\x02" + std::string(300000, ']') + std::string(299999, 'a') + ".";
  expect_refused(write_pt(dir, "deep.pt", deep), "top-level object is not a dict");
  // A memo that keeps growing.
  std::string memo = "\x80\x02}";
  for (int i = 0; i < 1000001; ++i) memo += "\x94";
  expect_refused(write_pt(dir, "memo.pt", memo + "."), "pickle memo holds more than 1000000 entries");
  // More objects than any state_dict makes.
  expect_refused(write_pt(dir, "many.pt", "\x80\x02" + std::string(1000001, 'N') + "."), "pickle makes more than");
  // A list appended to itself is a cycle that must still be freed (ASan's leak check).
  expect_refused(write_pt(dir, "cycle.pt", "\x80\x02]2a."), "top-level object is not a dict");
  // 60 dicts, each holding the one before twice ({'a': d, 'b': d}): no cycle, 1.4 kB of pickle,
  // 2^60 paths for a walk that does not count what it visits.
  std::string shared = "\x80\x02}q\x00"s + "0";
  for (int i = 1; i <= 60; ++i) {
    const std::string prev(1, static_cast<char>(i - 1)), me(1, static_cast<char>(i));
    shared += "}q" + me + "(" + str("a") + "h" + prev + str("b") + "h" + prev + "u0";
  }
  expect_refused(write_pt(dir, "shared.pt", shared + "h\x3c."), "reached more than 1000000 times");
}

TEST(TorchPickle, NamesWhatKindOfFileItIsNot) {
  test::ScratchDir dir;
  test::write_text(dir / "empty.pt", "");
  expect_refused((dir / "empty.pt").string(), "empty file");
  test::write_text(dir / "random.pt", "\x13\x99random bytes"s);
  expect_refused((dir / "random.pt").string(), "neither a zip archive nor a legacy pickle");
  // What torch.save wrote before PyTorch 1.6: a pickle with protocol 2 and torch's magic number.
  test::write_text(dir / "legacy.pt", "\x80\x02\x8a\x0a"s + "l torch magic.");
  expect_refused((dir / "legacy.pt").string(), "PyTorch < 1.6");
}
