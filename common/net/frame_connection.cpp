#include "common/net/frame_connection.h"

#include <sys/sendfile.h>

#include <cerrno>
#include <limits>

#include <fmt/format.h>
#include <cstring>

namespace chunkex {
namespace {

// Small reads pick up headers and control frames; the rest of a chunk
// payload is read straight into its frame (see do_read).
constexpr size_t kReadBufferBytes = 16 * 1024;
constexpr size_t kDirectReadMinBytes = 4 * 1024;
// Frames gathered into one write; bounds the iovec count per syscall.
constexpr size_t kMaxFramesPerWrite = 64;
// Chunk payload bytes gathered into one write (at least one frame). Frames
// count as queued until their whole write is done, and the relay stops
// forwarding while its queued output is above its limit (8 MiB): a 64-frame
// write of 128 KiB chunks held that much back until its last byte was out.
constexpr size_t kChunkBytesPerWriteMax = 1 << 20;
// How long a closing connection waits for the other side to close too.
constexpr auto kLingerTime = std::chrono::seconds(2);

// asio::transfer_all() ends each send at 64 KiB, so a 128 KiB chunk took two
// sendmsg calls; this lets one call take the whole gather (the kernel may
// still take less, and async_write then sends the rest).
size_t whole_gather(const asio::error_code& ec, size_t /*bytes_so_far*/) {
  return ec ? 0 : std::numeric_limits<size_t>::max();
}

// Drops the first `bytes` bytes of `buffers`.
void drop_front(std::vector<asio::const_buffer>& buffers, size_t bytes) {
  auto first = buffers.begin();
  for (; first != buffers.end() && bytes >= first->size(); ++first) bytes -= first->size();
  buffers.erase(buffers.begin(), first);
  if (!buffers.empty()) buffers.front() += bytes;
}

}  // namespace

FrameConnection::FrameConnection(asio::ip::tcp::socket socket, uint32_t chunk_bytes_max,
                                 std::chrono::seconds stall_timeout)
    : socket_(std::move(socket)),
      linger_timer_(socket_.get_executor()),
      stall_timer_(socket_.get_executor()),
      stall_timeout_(stall_timeout),
      decoder_(chunk_bytes_max),
      read_buffer_(kReadBufferBytes) {
  asio::error_code ignored;
  // Requests are tiny and latency-bound; Nagle would hold them back.
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  // sendfile(2) must return EAGAIN rather than block the event loop.
  socket_.native_non_blocking(true, ignored);
}

void FrameConnection::start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  do_read();
}

// While a payload is being filled, one read scatters into the rest of it and
// then into the read buffer: the next frames' headers (and control frames)
// come in the same syscall as the end of the payload.
void FrameConnection::do_read() {
  std::span<uint8_t> payload_space = decoder_.payload_space();
  size_t direct_bytes = payload_space.size() >= kDirectReadMinBytes ? payload_space.size() : 0;
  std::array<asio::mutable_buffer, 2> targets{asio::buffer(payload_space.data(), direct_bytes),
                                              asio::buffer(read_buffer_)};
  auto self(shared_from_this());
  socket_.async_read_some(targets,
                          [this, self, direct_bytes](const asio::error_code& ec, size_t bytes) {
                            on_read(ec, bytes, direct_bytes);
                          });
}

void FrameConnection::on_read(const asio::error_code& ec, size_t bytes, size_t direct_bytes) {
  if (closed_) return;
  if (!ec) {
    deliver(bytes, direct_bytes);
    if (!closed_) do_read();
  } else if (ec == asio::error::eof && decoder_.mid_frame()) {
    finish("connection closed in the middle of a frame");
  } else {
    finish(ec == asio::error::eof ? "connection closed" : ec.message());
  }
}

// `bytes` read: the first `direct_bytes` of them into the payload space.
void FrameConnection::deliver(size_t bytes, size_t direct_bytes) {
  bytes_read_ += bytes;
  last_read_at_ = std::chrono::steady_clock::now();
  std::vector<Frame> frames;
  size_t direct = std::min(bytes, direct_bytes);
  if (direct > 0) decoder_.payload_received(direct, frames);
  bool ok = bytes == direct || decoder_.feed(ByteView(read_buffer_.data(), bytes - direct), frames);
  for (Frame& frame : frames) {
    if (closed_ || closing_) return;
    callbacks_.on_frame(std::move(frame));
  }
  if (!ok && !closed_ && !closing_) {
    std::string error = decoder_.error();
    if (callbacks_.on_stream_error) callbacks_.on_stream_error(error);
    close_after_flush();
  }
}

void FrameConnection::send(Frame frame) {
  auto header = encode_frame_header(frame.type, static_cast<uint32_t>(frame.payload.size()));
  enqueue(Outgoing{header, std::move(frame), FileRegion{}});
}

void FrameConnection::send_with_file_data(FrameType type, Bytes prefix, int fd, uint64_t offset,
                                          uint32_t length) {
  auto header = encode_frame_header(type, static_cast<uint32_t>(prefix.size()) + length);
  enqueue(Outgoing{header, Frame{type, std::move(prefix)}, FileRegion{fd, offset, length}});
}

// Control frames (requests, forwards, DONE, ERROR, ...) overtake queued chunk
// frames: a 29-byte request stuck behind megabytes of chunk data would stall
// a whole round on a slow link. Nothing depends on the relative order of a
// control frame and a chunk frame on one connection; each kind keeps its own.
void FrameConnection::enqueue(Outgoing outgoing) {
  if (closed_ || closing_) return;
  bool bulk = carries_chunk_data(outgoing.frame.type);
  queued_bytes_ += outgoing.frame.payload.size();
  (bulk ? chunk_queue_ : control_queue_).push_back(std::move(outgoing));
  if (!write_in_flight()) schedule_write();
}

// The write starts once the handler that queued a frame is done, so that
// every frame it queued (a relay forwards a batch of rounds in one go) leaves
// in the same sendmsg rather than the first alone.
void FrameConnection::schedule_write() {
  if (write_scheduled_) return;
  write_scheduled_ = true;
  auto self(shared_from_this());
  asio::post(socket_.get_executor(), [this, self] {
    write_scheduled_ = false;
    if (!closed_ && !write_in_flight()) do_write();
  });
}

// One gather write: the queued control frames, then chunk frames up to and
// including the first with file data (which then goes by sendfile) or up to
// kChunkBytesPerWriteMax.
void FrameConnection::do_write() {
  if (control_queue_.empty() && chunk_queue_.empty()) {
    if (closing_) half_close();
    return;
  }
  std::vector<asio::const_buffer> buffers;
  auto add = [&buffers](const Outgoing& outgoing) {
    buffers.push_back(asio::buffer(outgoing.header));
    if (!outgoing.frame.payload.empty()) buffers.push_back(asio::buffer(outgoing.frame.payload));
  };
  while (control_in_flight_ < control_queue_.size() && control_in_flight_ < kMaxFramesPerWrite) {
    add(control_queue_[control_in_flight_++]);
  }
  size_t chunk_bytes = 0;
  while (chunk_in_flight_ < chunk_queue_.size() && chunk_in_flight_ < kMaxFramesPerWrite &&
         chunk_bytes < kChunkBytesPerWriteMax) {
    chunk_bytes += chunk_queue_[chunk_in_flight_].frame.payload.size();
    add(chunk_queue_[chunk_in_flight_++]);
    if (chunk_queue_[chunk_in_flight_ - 1].file_data.length > 0) break;
  }
  watch_for_stall();
  bool file_data_follows =
      chunk_in_flight_ > 0 && chunk_queue_[chunk_in_flight_ - 1].file_data.length > 0;
  if (file_data_follows) return write_before_file_data(std::move(buffers));
  auto self(shared_from_this());
  asio::async_write(
      socket_, buffers, whole_gather,
      [this, self](const asio::error_code& ec, size_t bytes) { on_buffers_written(ec, bytes); });
}

// The headers before file data go with MSG_MORE: they leave in one segment
// with the first file bytes, so the other side wakes once for the frame
// rather than once for its header. A short send writes the rest as usual.
void FrameConnection::write_before_file_data(std::vector<asio::const_buffer> buffers) {
  auto pending = std::make_shared<std::vector<asio::const_buffer>>(std::move(buffers));
  auto self(shared_from_this());
  socket_.async_send(
      *pending, MSG_MORE, [this, self, pending](const asio::error_code& ec, size_t bytes) {
        if (closed_ || ec) return on_buffers_written(ec, bytes);
        bytes_written_ += bytes;
        drop_front(*pending, bytes);
        if (pending->empty()) return send_file_data();
        asio::async_write(
            socket_, *pending, whole_gather,
            [this, self, pending](const asio::error_code& rest_ec, size_t rest_bytes) {
              on_buffers_written(rest_ec, rest_bytes);
            });
      });
}

void FrameConnection::on_buffers_written(const asio::error_code& ec, size_t bytes) {
  if (closed_) return;
  if (ec) return finish(ec.message());
  bytes_written_ += bytes;
  send_file_data();
}

void FrameConnection::send_file_data() {
  FileRegion no_file_data;
  FileRegion& region =
      chunk_in_flight_ > 0 ? chunk_queue_[chunk_in_flight_ - 1].file_data : no_file_data;
  while (region.length > 0) {
    auto offset = static_cast<off_t>(region.offset);
    ssize_t sent = ::sendfile(socket_.native_handle(), region.fd, &offset, region.length);
    if (sent > 0) {
      region.offset += static_cast<uint64_t>(sent);
      region.length -= static_cast<uint32_t>(sent);
      bytes_written_ += static_cast<uint64_t>(sent);
    } else if (sent < 0 && errno == EINTR) {
      continue;
    } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto self(shared_from_this());
      socket_.async_wait(asio::ip::tcp::socket::wait_write,
                         [this, self](const asio::error_code& ec) {
                           if (closed_) return;
                           if (ec) return finish(ec.message());
                           send_file_data();
                         });
      return;
    } else {
      return finish(sent == 0 ? "file ended before its chunk was sent"
                              : std::string("sendfile: ") + std::strerror(errno));
    }
  }
  stall_timer_.cancel();
  for (; control_in_flight_ > 0; --control_in_flight_) pop_written(control_queue_);
  for (; chunk_in_flight_ > 0; --chunk_in_flight_) pop_written(chunk_queue_);
  do_write();
  if (callbacks_.on_written && !closed_) callbacks_.on_written();
}

void FrameConnection::pop_written(std::deque<Outgoing>& queue) {
  queued_bytes_ -= queue.front().frame.payload.size();
  queue.pop_front();
}

void FrameConnection::close_after_flush() {
  if (closed_) return;
  closing_ = true;
  if (!write_in_flight()) schedule_write();
}

// Closing at once with unread input would make the kernel send RST, and the
// other side could lose the last frames (an ERROR saying why). So: send FIN,
// drain input until the other side closes, and give up after kLingerTime.
void FrameConnection::half_close() {
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  auto self(shared_from_this());
  linger_timer_.expires_after(kLingerTime);
  linger_timer_.async_wait([this, self](const asio::error_code& ec) {
    if (!ec) finish("closed locally");
  });
}

// Re-armed at every write; fires only if one write (or its file data) takes
// longer than stall_timeout_, i.e. the other side stopped reading.
void FrameConnection::watch_for_stall() {
  auto self(shared_from_this());
  stall_timer_.expires_after(stall_timeout_);
  stall_timer_.async_wait([this, self](const asio::error_code& ec) {
    if (!ec) finish(fmt::format("the other side read nothing for {} s", stall_timeout_.count()));
  });
}

void FrameConnection::close_now() {
  finish("closed locally");
}

void FrameConnection::finish(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  linger_timer_.cancel();
  stall_timer_.cancel();
  asio::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  control_queue_.clear();
  chunk_queue_.clear();
  queued_bytes_ = 0;
  if (callbacks_.on_closed) callbacks_.on_closed(why);
}

}  // namespace chunkex
