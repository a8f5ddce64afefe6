// A reader for the STORED (uncompressed) entries of a zip archive held in memory (a memory-mapped file), as
// torch.save writes them (PyTorch >= 1.6: every record stored, 64-byte aligned, zip64 extra fields when an entry or
// the archive passes 4 GiB). It reads the central directory (APPNOTE 6.3: end of central directory record, zip64
// locator and record, central headers with their zip64 extra field 0x0001) and each entry's local header for where
// its data starts. Every offset and size is checked against the buffer; a malformed archive is a ModelError
// naming `label` and the problem. Entry data is not copied, and CRCs are not checked (a fetched file's sha256 is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace osor::model {

struct ByteSpan {
  const unsigned char* data = nullptr;
  size_t size = 0;
};

struct ZipEntry {
  std::string name;
  uint16_t method = 0;            // 0 = stored; anything else cannot be read here
  uint64_t size = 0;              // uncompressed size
  uint64_t compressed_size = 0;
  uint64_t local_header_offset = 0;
};

class StoredZipArchive {
 public:
  // Reads the central directory of `archive` (which must outlive this object). Throws ModelError.
  static StoredZipArchive parse(ByteSpan archive, const std::string& label);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The entry of this exact name, or nullptr.
  const ZipEntry* find(const std::string& name) const;
  // The bytes of a stored entry; throws ModelError naming the entry when it is compressed or out of range.
  ByteSpan data(const ZipEntry& entry) const;

 private:
  ByteSpan archive_;
  std::string label_;
  std::vector<ZipEntry> entries_;
};

// True when `bytes` starts with a zip local file header ("PK\3\4").
bool looks_like_zip(ByteSpan bytes);

}  // namespace osor::model
