#include "common/sim/network.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

namespace chunkex::sim {

struct Network::Item {
  enum class Kind { kConnect, kConnected, kRefused, kFrame, kEnd };
  Kind kind = Kind::kFrame;
  Frame frame{FrameType::kError, {}};
};

struct Network::Direction {
  std::deque<std::pair<TimeUs, Item>> in_flight;  // arrival time, item; in order
  TimeUs busy_until_us = 0;                       // the rate cap's queue
  bool scheduled = false;                         // its head waits in events_
  uint64_t generation = 0;                        // bumped when in_flight is dropped
};

struct Network::Connection {
  ConnId id = 0;
  size_t peer = 0;
  LinkModel link;
  Direction to_relay;
  Direction to_peer;
  bool relay_knows = false;     // on_connect delivered, on_closed not yet
  bool relay_reading = true;    // the relay neither closed it nor crashed
  bool peer_attached = true;    // the peer's current connection, not closed by it
  bool peer_connected = false;  // on_connected delivered
};

bool Network::Scheduled::operator>(const Scheduled& other) const {
  return std::tie(at_us, tie, sequence) > std::tie(other.at_us, other.tie, other.sequence);
}

class Network::RelaySide : public RelayLink {
 public:
  explicit RelaySide(Network& network) : network_(network) {}
  void send(ConnId conn, Frame frame) override { network_.relay_sent(conn, std::move(frame)); }
  void close_after_flush(ConnId conn) override {
    Connection* connection = network_.connection_of(conn);
    if (!connection || !connection->relay_reading) return;
    connection->relay_reading = false;
    network_.transmit(*connection, false, Item{Item::Kind::kEnd}, 0);
  }
  void close_all_now() override {
    for (auto& [id, connection] : network_.connections_) {
      if (!connection.relay_knows) continue;
      connection.relay_knows = false;
      if (connection.relay_reading) {
        connection.relay_reading = false;
        network_.transmit(connection, false, Item{Item::Kind::kEnd}, 0);
      }
    }
  }
  void stop_accepting() override { accepting = false; }
  size_t open_connections() const override {
    return static_cast<size_t>(
        std::count_if(network_.connections_.begin(), network_.connections_.end(),
                      [](const auto& entry) { return entry.second.relay_knows; }));
  }
  uint64_t queued_bytes() const override { return network_.relay_queued_bytes_; }
  uint64_t bytes_received() const override { return network_.traffic_.bytes_to_relay; }
  uint64_t bytes_sent() const override { return network_.traffic_.bytes_from_relay; }

  bool accepting = true;

 private:
  Network& network_;
};

class Network::PeerSide : public PeerLink {
 public:
  PeerSide(Network& network, size_t index, SimChunkStore& store, LinkModel link_model,
           bool chunks_inline)
      : link(link_model),
        network_(network),
        index_(index),
        store_(store),
        chunks_inline_(chunks_inline) {}
  void connect() override { network_.peer_connect(index_); }
  void abort_connect() override { network_.peer_abort_connect(index_); }
  void send(Frame frame) override {
    Connection* connection = network_.live_connection_of_peer(index_);
    if (!connection || !connection->peer_connected) return;
    uint64_t wire_bytes = kFrameHeaderBytes + wire_payload_bytes(frame);
    network_.transmit(*connection, true, Item{Item::Kind::kFrame, std::move(frame)}, wire_bytes);
  }
  void send_own_chunk(Frame prefix, uint64_t offset, uint32_t length) override {
    if (chunks_inline_) {
      if (!reader_) reader_ = store_.own_source()->open_reader();
      size_t header_bytes = prefix.payload.size();
      prefix.payload.resize(header_bytes + length);
      reader_->read(offset, std::span<uint8_t>(prefix.payload.data() + header_bytes, length));
    } else {
      prefix.data_ref = ChunkRef{store_.own_source(), offset, length};
    }
    send(std::move(prefix));
  }
  void close_after_flush() override { network_.peer_close(index_); }
  void set_chunk_bytes_max(uint32_t) override {}  // frames are never encoded here

  LinkModel link;

 private:
  Network& network_;
  size_t index_;
  SimChunkStore& store_;
  bool chunks_inline_;
  std::unique_ptr<ContentReader> reader_;
};

Network::Network(uint64_t order_seed)
    : order_random_(order_seed), relay_side_(std::make_unique<RelaySide>(*this)) {}

Network::~Network() = default;

RelayLink& Network::relay_link() {
  return *relay_side_;
}

void Network::set_relay(RelayHost* relay) {
  relay_ = relay;
  relay_side_->accepting = relay != nullptr;
}

void Network::set_tampering(std::function<void(size_t, Frame&)> to_relay,
                            std::function<void(size_t, Frame&)> to_peer) {
  tamper_to_relay_ = std::move(to_relay);
  tamper_to_peer_ = std::move(to_peer);
}

PeerLink& Network::add_peer(SimChunkStore& store, LinkModel link, bool chunks_inline) {
  peer_sides_.push_back(
      std::make_unique<PeerSide>(*this, peer_sides_.size(), store, link, chunks_inline));
  peers_.push_back(nullptr);
  return *peer_sides_.back();
}

void Network::set_peer(size_t index, PeerHost* host) {
  peers_.at(index) = host;
}

Network::Connection* Network::connection_of(ConnId conn) {
  auto found = connections_.find(conn);
  return found == connections_.end() ? nullptr : &found->second;
}

Network::Connection* Network::live_connection_of_peer(size_t index) {
  for (auto& [id, connection] : connections_) {
    if (connection.peer == index && connection.peer_attached) return &connection;
  }
  return nullptr;
}

// Paced by the direction's rate cap, then delayed by its latency; a
// direction delivers in the order it sent.
void Network::transmit(Connection& connection, bool to_relay, Item item, uint64_t wire_bytes) {
  Direction& direction = to_relay ? connection.to_relay : connection.to_peer;
  const LinkModel& link = connection.link;
  TimeUs start_us = std::max(now_us_, direction.busy_until_us);
  TimeUs serialize_us = 0;
  if (link.bandwidth_bytes_per_s > 0) {
    serialize_us = static_cast<TimeUs>((wire_bytes * 1'000'000 + link.bandwidth_bytes_per_s - 1) /
                                       link.bandwidth_bytes_per_s);
  }
  direction.busy_until_us = start_us + serialize_us;
  TimeUs arrival_us = direction.busy_until_us + link.latency_us;
  if (to_relay) arrival_us = after_peer_sent_before(connection, arrival_us);
  direction.in_flight.emplace_back(arrival_us, std::move(item));
  if (!direction.scheduled) schedule_head(connection, to_relay);
}

// What a peer sends on a new connection arrives after what it sent on an
// old one: same-time arrivals on two connections would otherwise be ordered
// by the seeded tie-break, and a restarted peer's connect could overtake its
// crashed connection's end (the relay would find no slot free).
TimeUs Network::after_peer_sent_before(const Connection& connection, TimeUs arrival_us) {
  auto [last, inserted] = last_to_relay_.try_emplace(connection.peer, arrival_us, connection.id);
  if (inserted) return arrival_us;
  auto& [last_arrival_us, last_conn] = last->second;
  // On one connection arrivals never go backwards (a direction is FIFO).
  TimeUs earliest_us = last_conn == connection.id ? last_arrival_us : last_arrival_us + 1;
  arrival_us = std::max(arrival_us, earliest_us);
  last_arrival_us = arrival_us;
  last_conn = connection.id;
  return arrival_us;
}

void Network::schedule_head(Connection& connection, bool to_relay) {
  Direction& direction = to_relay ? connection.to_relay : connection.to_peer;
  direction.scheduled = true;
  events_.push(Scheduled{direction.in_flight.front().first, order_random_.next(), sequence_++,
                         connection.id, to_relay, direction.generation});
}

void Network::relay_sent(ConnId conn, Frame frame) {
  Connection* connection = connection_of(conn);
  if (!connection || !connection->relay_reading) return;
  uint64_t wire_bytes = kFrameHeaderBytes + wire_payload_bytes(frame);
  ++traffic_.frames_from_relay;
  traffic_.bytes_from_relay += wire_bytes;
  transmit(*connection, false, Item{Item::Kind::kFrame, std::move(frame)}, wire_bytes);
  // Counted as queued until the rate cap lets it go; the relay hears of it
  // then, as a live relay hears of every write that completes.
  relay_unwritten_.emplace(connection->to_peer.busy_until_us, wire_bytes);
  relay_queued_bytes_ += wire_bytes;
}

void Network::forget_relay_written(TimeUs until_us) {
  while (!relay_unwritten_.empty() && relay_unwritten_.begin()->first <= until_us) {
    relay_queued_bytes_ -= relay_unwritten_.begin()->second;
    relay_unwritten_.erase(relay_unwritten_.begin());
  }
}

void Network::peer_connect(size_t index) {
  ConnId id = next_conn_++;
  Connection& connection = connections_[id];
  connection.id = id;
  connection.peer = index;
  connection.link = peer_sides_[index]->link;
  if (!relay_ || !relay_side_->accepting) {
    connection.relay_reading = false;
    // The refusal comes back after a round trip.
    connection.to_peer.busy_until_us = now_us_ + connection.link.latency_us;
    transmit(connection, false, Item{Item::Kind::kRefused}, 0);
    return;
  }
  transmit(connection, true, Item{Item::Kind::kConnect}, 0);
  connection.to_peer.busy_until_us = now_us_ + connection.link.latency_us;
  transmit(connection, false, Item{Item::Kind::kConnected}, 0);
}

void Network::peer_abort_connect(size_t index) {
  Connection* connection = live_connection_of_peer(index);
  if (!connection || connection->peer_connected) return;
  connection->peer_attached = false;
  transmit(*connection, true, Item{Item::Kind::kEnd}, 0);
}

void Network::peer_close(size_t index) {
  Connection* connection = live_connection_of_peer(index);
  if (!connection) return;
  connection->peer_attached = false;
  transmit(*connection, true, Item{Item::Kind::kEnd}, 0);
}

void Network::drop_in_flight(Connection& connection) {
  for (Direction* direction : {&connection.to_relay, &connection.to_peer}) {
    direction->in_flight.clear();
    direction->scheduled = false;
    direction->busy_until_us = now_us_;
    ++direction->generation;
  }
}

void Network::crash_peer(size_t index) {
  Connection* connection = live_connection_of_peer(index);
  peers_.at(index) = nullptr;
  if (!connection) return;
  connection->peer_attached = false;
  // The strongest case: whatever it had sent is lost with it (its machine
  // went down), so the relay must recover every frame of its open rounds.
  drop_in_flight(*connection);
  transmit(*connection, true, Item{Item::Kind::kEnd}, 0);
}

void Network::cut_peer(size_t index) {
  Connection* connection = live_connection_of_peer(index);
  if (!connection) return;
  drop_in_flight(*connection);
  transmit(*connection, true, Item{Item::Kind::kEnd}, 0);
  transmit(*connection, false, Item{Item::Kind::kEnd}, 0);
}

void Network::crash_relay() {
  relay_ = nullptr;
  relay_side_->accepting = false;
  relay_unwritten_.clear();
  relay_queued_bytes_ = 0;
  for (auto& [id, connection] : connections_) {
    connection.relay_knows = false;
    bool was_reading = connection.relay_reading;
    connection.relay_reading = false;
    if (!connection.peer_attached) continue;
    drop_in_flight(connection);
    if (connection.peer_connected) {
      if (was_reading) transmit(connection, false, Item{Item::Kind::kEnd}, 0);
    } else {
      transmit(connection, false, Item{Item::Kind::kRefused}, 0);
    }
  }
}

void Network::deliver(const Scheduled& event) {
  Connection* connection = connection_of(event.conn);
  Direction& direction = event.to_relay ? connection->to_relay : connection->to_peer;
  if (event.generation != direction.generation || direction.in_flight.empty()) return;
  direction.scheduled = false;
  Item item = std::move(direction.in_flight.front().second);
  direction.in_flight.pop_front();
  if (!direction.in_flight.empty()) schedule_head(*connection, event.to_relay);
  if (event.to_relay) return deliver_to_relay(*connection, std::move(item));
  deliver_to_peer(*connection, std::move(item));
}

void Network::deliver_to_relay(Connection& connection, Item item) {
  if (item.kind == Item::Kind::kEnd) return end_connection_for_relay(connection);
  if (!relay_ || !connection.relay_reading) return;
  if (item.kind == Item::Kind::kConnect) {
    // A live relay that stopped accepting closes the socket the kernel had
    // already accepted for it: the peer sees it connect, then end.
    if (!relay_side_->accepting) return relay_side_->close_after_flush(connection.id);
    connection.relay_knows = true;
    return relay_->on_connect(connection.id, now_ms());
  }
  uint64_t wire_bytes = kFrameHeaderBytes + wire_payload_bytes(item.frame);
  ++traffic_.frames_to_relay;
  traffic_.bytes_to_relay += wire_bytes;
  if (item.frame.type == FrameType::kChunkData || item.frame.type == FrameType::kRefetchData) {
    auto header = decode_chunk_header(item.frame);
    if (header && header->peer < kMaxPeers) {
      traffic_.chunk_bytes_for_slot[header->peer] += chunk_data_bytes(item.frame);
    }
  }
  if (tamper_to_relay_) tamper_to_relay_(connection.peer, item.frame);
  relay_->on_frame(connection.id, std::move(item.frame), now_ms());
}

void Network::end_connection_for_relay(Connection& connection) {
  connection.relay_reading = false;
  if (!connection.relay_knows || !relay_) return;
  connection.relay_knows = false;
  relay_->on_closed(connection.id, now_ms());
}

void Network::deliver_to_peer(Connection& connection, Item item) {
  PeerHost* peer = peers_[connection.peer];
  if (!connection.peer_attached || !peer) {
    // A connection the peer gave up on while it was being made.
    if (item.kind == Item::Kind::kConnected) transmit(connection, true, Item{Item::Kind::kEnd}, 0);
    return;
  }
  switch (item.kind) {
    case Item::Kind::kConnected:
      connection.peer_connected = true;
      return peer->on_connected("the simulated relay", now_ms());
    case Item::Kind::kRefused:
      connection.peer_attached = false;
      return peer->on_connect_failed(true, "Connection refused", now_ms());
    case Item::Kind::kFrame:
      if (tamper_to_peer_) tamper_to_peer_(connection.peer, item.frame);
      return peer->on_frame(std::move(item.frame), now_ms());
    case Item::Kind::kEnd:
      connection.peer_attached = false;
      if (!connection.peer_connected) {
        return peer->on_connect_failed(false, "Connection reset by peer", now_ms());
      }
      if (connection.relay_knows || connection.relay_reading) {
        transmit(connection, true, Item{Item::Kind::kEnd}, 0);  // the peer's side closes too
      }
      return peer->on_closed(now_ms());
    case Item::Kind::kConnect:
      return;
  }
}

TimeUs Network::next_deadline_us() const {
  TimeMs next_ms = relay_ ? relay_->next_deadline_ms() : kNoDeadline;
  for (PeerHost* peer : peers_) {
    if (peer) next_ms = std::min(next_ms, peer->next_deadline_ms());
  }
  return next_ms == kNoDeadline ? kNever : next_ms * 1000;
}

void Network::fire_deadlines(TimeMs now_ms) {
  if (relay_ && relay_->next_deadline_ms() <= now_ms) relay_->on_time(now_ms);
  for (PeerHost* peer : peers_) {
    if (peer && peer->next_deadline_ms() <= now_ms) peer->on_time(now_ms);
  }
}

void Network::at(TimeUs at_us, std::function<void()> action) {
  actions_.emplace(std::max(at_us, now_us_), std::move(action));
}

bool Network::step() {
  TimeUs next_action_us = actions_.empty() ? kNever : actions_.begin()->first;
  TimeUs next_event_us = events_.empty() ? kNever : events_.top().at_us;
  TimeUs next_written_us = relay_unwritten_.empty() ? kNever : relay_unwritten_.begin()->first;
  TimeUs next_deadline = next_deadline_us();
  TimeUs next_us = std::min({next_action_us, next_event_us, next_written_us, next_deadline});
  if (next_us == kNever) return false;
  now_us_ = std::max(now_us_, next_us);
  if (next_us == next_action_us) {
    auto action = std::move(actions_.begin()->second);
    actions_.erase(actions_.begin());
    action();
  } else if (next_us == next_deadline) {
    fire_deadlines(now_ms());
  } else if (next_us == next_written_us) {
    forget_relay_written(now_us_);
    if (relay_) relay_->on_output_written(now_ms());
  } else {
    Scheduled event = events_.top();
    events_.pop();
    deliver(event);
  }
  return true;
}

}  // namespace chunkex::sim
