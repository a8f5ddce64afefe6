#include "model/io/zip_archive.h"

#include <algorithm>

#include "model/error.h"

namespace osor::model {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfCentralDirectory = 0x06054b50,
                   kZip64Locator = 0x07064b50, kZip64End = 0x06064b50;
constexpr size_t kEndRecordSize = 22, kCentralHeaderSize = 46, kLocalHeaderSize = 30, kZip64LocatorSize = 20,
                 kZip64EndSize = 56;
constexpr uint32_t kMax32 = 0xFFFFFFFFu;

[[noreturn]] void fail(const std::string& label, const std::string& problem) {
  throw ModelError("zip archive " + label + ": " + problem);
}

uint64_t read_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// [offset, offset + size) lies inside a buffer of `total` bytes (no overflow).
bool in_range(uint64_t offset, uint64_t size, uint64_t total) { return offset <= total && size <= total - offset; }

struct CentralDirectory {
  uint64_t entries = 0, offset = 0, size = 0;
};

size_t find_end_record(ByteSpan a, const std::string& label) {
  if (a.size < kEndRecordSize) fail(label, "too short for a zip archive (" + std::to_string(a.size) + " bytes)");
  const size_t lowest = a.size > kEndRecordSize + 0xFFFF ? a.size - kEndRecordSize - 0xFFFF : 0;
  for (size_t at = a.size - kEndRecordSize + 1; at-- > lowest;)
    if (read_le(a.data + at, 4) == kEndOfCentralDirectory) return at;
  fail(label, "no end-of-central-directory record (truncated download?)");
}

CentralDirectory read_zip64_end(ByteSpan a, size_t end_at, const std::string& label) {
  if (end_at < kZip64LocatorSize || read_le(a.data + end_at - kZip64LocatorSize, 4) != kZip64Locator)
    fail(label, "a field of the end record is saturated but there is no zip64 locator");
  const uint64_t record = read_le(a.data + end_at - kZip64LocatorSize + 8, 8);
  if (!in_range(record, kZip64EndSize, a.size) || read_le(a.data + record, 4) != kZip64End)
    fail(label, "the zip64 end-of-central-directory record is missing or out of range");
  return {read_le(a.data + record + 32, 8), read_le(a.data + record + 48, 8), read_le(a.data + record + 40, 8)};
}

CentralDirectory read_central_directory_location(ByteSpan a, const std::string& label) {
  const size_t end_at = find_end_record(a, label);
  const unsigned char* e = a.data + end_at;
  CentralDirectory cd{read_le(e + 10, 2), read_le(e + 16, 4), read_le(e + 12, 4)};
  if (cd.entries == 0xFFFF || cd.offset == kMax32 || cd.size == kMax32) cd = read_zip64_end(a, end_at, label);
  if (!in_range(cd.offset, cd.size, a.size)) fail(label, "the central directory lies outside the file (truncated?)");
  if (cd.entries > cd.size / kCentralHeaderSize) fail(label, "the central directory is too small for its entry count");
  return cd;
}

// Replaces the saturated 32-bit fields of `entry` with the values of its zip64 extra field (APPNOTE 4.5.3: in the
// order uncompressed size, compressed size, local header offset, each present only when saturated).
void apply_zip64_extra(ZipEntry& entry, const unsigned char* extra, size_t extra_size, const std::string& label) {
  for (size_t at = 0; at + 4 <= extra_size;) {
    const uint64_t id = read_le(extra + at, 2), size = read_le(extra + at + 2, 2);
    if (at + 4 + size > extra_size) fail(label, "entry " + entry.name + ": an extra field runs past its header");
    if (id == 0x0001) {
      const unsigned char* p = extra + at + 4;
      size_t left = size;
      for (uint64_t* field : {&entry.size, &entry.compressed_size, &entry.local_header_offset}) {
        if (*field != kMax32) continue;
        if (left < 8) fail(label, "entry " + entry.name + ": zip64 extra field too short");
        *field = read_le(p, 8);
        p += 8;
        left -= 8;
      }
      return;
    }
    at += 4 + size;
  }
}

}  // namespace

bool looks_like_zip(ByteSpan bytes) { return bytes.size >= 4 && read_le(bytes.data, 4) == kLocalHeader; }

StoredZipArchive StoredZipArchive::parse(ByteSpan archive, const std::string& label) {
  StoredZipArchive zip;
  zip.archive_ = archive;
  zip.label_ = label;
  const CentralDirectory cd = read_central_directory_location(archive, label);
  const unsigned char* p = archive.data + cd.offset;
  const unsigned char* const end = p + cd.size;
  for (uint64_t i = 0; i < cd.entries; ++i) {
    if (end - p < static_cast<ptrdiff_t>(kCentralHeaderSize) || read_le(p, 4) != kCentralHeader)
      fail(label, "central directory entry " + std::to_string(i) + " is malformed");
    const size_t name_size = read_le(p + 28, 2), extra_size = read_le(p + 30, 2), comment_size = read_le(p + 32, 2);
    if (static_cast<size_t>(end - p) < kCentralHeaderSize + name_size + extra_size + comment_size)
      fail(label, "central directory entry " + std::to_string(i) + " runs past the directory");
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(p + kCentralHeaderSize), name_size);
    entry.method = static_cast<uint16_t>(read_le(p + 10, 2));
    entry.compressed_size = read_le(p + 20, 4);
    entry.size = read_le(p + 24, 4);
    entry.local_header_offset = read_le(p + 42, 4);
    apply_zip64_extra(entry, p + kCentralHeaderSize + name_size, extra_size, label);
    zip.entries_.push_back(std::move(entry));
    p += kCentralHeaderSize + name_size + extra_size + comment_size;
  }
  return zip;
}

const ZipEntry* StoredZipArchive::find(const std::string& name) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const ZipEntry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

ByteSpan StoredZipArchive::data(const ZipEntry& entry) const {
  const std::string where = "entry " + entry.name;
  if (entry.method != 0)
    fail(label_, where + " is compressed (method " + std::to_string(entry.method) + "); only stored entries are read");
  if (entry.compressed_size != entry.size) fail(label_, where + ": stored sizes differ");
  const uint64_t at = entry.local_header_offset;
  if (!in_range(at, kLocalHeaderSize, archive_.size) || read_le(archive_.data + at, 4) != kLocalHeader)
    fail(label_, where + ": local header missing or out of range (truncated?)");
  const uint64_t start = at + kLocalHeaderSize + read_le(archive_.data + at + 26, 2) + read_le(archive_.data + at + 28, 2);
  if (!in_range(start, entry.size, archive_.size))
    fail(label_, where + ": its " + std::to_string(entry.size) + " bytes lie outside the file (truncated?)");
  return {archive_.data + start, static_cast<size_t>(entry.size)};
}

}  // namespace osor::model
