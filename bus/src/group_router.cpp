#include "group_router.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>

#include "error_mapping.hpp"
#include "shmbus/bus/errc.hpp"
#include "shm_group_module.hpp"

namespace shmbus::bus {

namespace {

bool same_slot(peer_ref x, peer_ref y) {
  return x.slot == y.slot;
}

} // namespace

group_router::group_router(caf::actor_system& sys, const bus_settings& settings,
                           const transport::node& transport, peer_table& peers,
                           record_codec& codec, outbox& out, io_execution_unit& eu,
                           once_log& log)
  : sys_(sys),
    settings_(settings),
    transport_(transport),
    summary_(transport.shared_segment()),
    peers_(peers),
    codec_(codec),
    out_(out),
    eu_(eu),
    log_(log) {
  // nop
}

void group_router::bind(std::shared_ptr<group_router> self) {
  auto* mod = shm_group_module::of(sys_);
  if (mod == nullptr)
    return;
  // Set first: deliveries may start as soon as the module knows us.
  module_.store(mod, std::memory_order_release);
  if (!mod->attach(std::move(self)))
    module_.store(nullptr, std::memory_order_release);
}

void group_router::unbind() {
  if (auto* mod = module_.exchange(nullptr, std::memory_order_acq_rel))
    mod->detach(this);
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& kvp : groups_)
    hide(kvp.second);
}

// -- the group summary (for tools) ---------------------------------------------

void group_router::show(const std::string& id, group_state& g) {
  auto slot = transport_.slot();
  auto incarnation = transport_.incarnation();
  bool wanted = g.local_subscribers > 0 || g.published > 0;
  if (g.row >= 0 && g.row_incarnation != incarnation)
    g.row = -1; // claimed by the incarnation before a rejoin: gone with it
  if (!wanted) {
    hide(g);
    return;
  }
  if (g.row < 0) {
    auto claimed = summary_.claim(slot, incarnation);
    if (!claimed) {
      log_.write("groups/summary-full", claimed.err().message);
      return;
    }
    g.row = static_cast<int32_t>(*claimed);
    g.row_incarnation = incarnation;
  }
  transport::group_summary_row row;
  row.name = id;
  row.local_subscribers = g.local_subscribers;
  row.published = g.published;
  row.records_out = g.records_out;
  row.undelivered = g.undelivered;
  row.records_in = g.records_in;
  if (summary_.write(slot, incarnation, static_cast<uint32_t>(g.row), row))
    g.row = -1; // not ours any more (a rejoin raced us): claim again next time
}

void group_router::hide(group_state& g) {
  if (g.row < 0)
    return;
  summary_.release(transport_.slot(), g.row_incarnation, static_cast<uint32_t>(g.row));
  g.row = -1;
}

// -- this process's subscriptions ---------------------------------------------

group_router::group_state* group_router::state(const std::string& id) {
  auto i = groups_.find(id);
  if (i != groups_.end())
    return &i->second;
  if (groups_.size() >= max_groups) {
    // Groups nobody here or elsewhere subscribes to make room (their
    // counters go with them).
    for (auto j = groups_.begin(); j != groups_.end();)
      if (!j->second.local && j->second.processes.empty()) {
        hide(j->second);
        j = groups_.erase(j);
      }
      else
        ++j;
    if (groups_.size() >= max_groups)
      return nullptr;
  }
  return &groups_[id];
}

void group_router::tell(peer_ref to, wire::kind kind, const std::string& id) {
  std::vector<char> buf;
  wire::start_record(buf, kind);
  buf.push_back(static_cast<char>(static_cast<uint8_t>(id.size())));
  buf.insert(buf.end(), id.begin(), id.end());
  out_.send_control(to, buf);
}

void group_router::local_join(const std::string& id) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto* g = state(id);
  if (g == nullptr) {
    log_.write("groups/full", "group '" + id + "' cannot be announced to the other processes: "
                                "this process knows " + std::to_string(max_groups)
                                + " groups with subscribers (shmbus::bus::max_groups); its "
                                  "local subscribers still get its local messages");
    return;
  }
  if (g->local)
    return;
  g->local = true;
  for (auto& peer : known_)
    tell(peer, wire::kind::group_join, id);
}

void group_router::local_leave(const std::string& id) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = groups_.find(id);
  if (i == groups_.end() || !i->second.local)
    return;
  i->second.local = false;
  for (auto& peer : known_)
    tell(peer, wire::kind::group_leave, id);
}

void group_router::local_count(const std::string& id, size_t n) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto i = groups_.find(id);
  if (i == groups_.end())
    return; // no room for it (local_join said so)
  i->second.local_subscribers = n;
  show(id, i->second);
}

// -- fan-out --------------------------------------------------------------------

void group_router::publish(const std::string& id, const caf::strong_actor_ptr& sender,
                           const caf::message& msg) {
  std::vector<peer_ref> targets;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    auto* g = state(id);
    if (g == nullptr)
      return; // no room for it, so no process subscribes to it either
    ++g->published;
    show(id, *g);
    targets = g->processes;
  }
  if (targets.empty())
    return;
  // Serialized once, the same bytes for every process, unless the message
  // holds pool buffers: those cross by handle, and a handle is an in-flight
  // reference to one process, so each process gets its own record (of a
  // few bytes per buffer; the buffer itself is written once, by its maker).
  std::vector<encoded> records(1);
  if (auto why = encode(id, sender, msg, targets.front(), records.front()); !why.empty()) {
    for (auto& to : targets)
      undelivered(id, to, 1, why);
    return;
  }
  bool per_process = !records.front().exports.handles.empty();
  if (per_process) {
    records.resize(targets.size());
    for (size_t i = 1; i < targets.size(); ++i)
      if (auto why = encode(id, sender, msg, targets[i], records[i]); !why.empty()) {
        records[i].failed = true;
        undelivered(id, targets[i], 1, why);
      }
  }
  auto record_of = [&](size_t i) -> encoded& { return records[per_process ? i : 0]; };
  // Every process with room first, then the full ones, each under the
  // full-inbox policy: one slow process holds up no other.
  uint64_t written = 0;
  std::vector<size_t> full;
  auto not_written = [&](size_t i, const caf::error& err) {
    if (per_process)
      record_of(i).exports.cancel();
    undelivered(id, targets[i], 1, sys_.render(err));
  };
  for (size_t i = 0; i < targets.size(); ++i) {
    if (record_of(i).failed)
      continue;
    auto err = out_.try_send(targets[i], record_of(i).buf);
    if (!err)
      ++written;
    else if (err == errc::inbox_full)
      full.push_back(i);
    else
      not_written(i, err);
  }
  for (auto i : full) {
    // Queued behind a full inbox, a record may still fail: it then moves
    // from records_out to undelivered.
    auto lost = [this, id](peer_ref to, const caf::error& why) {
      undelivered(id, to, 1, sys_.render(why), true);
    };
    if (auto err = out_.send(targets[i], record_of(i).buf, nullptr, caf::make_message_id(), lost))
      not_written(i, err);
    else
      ++written;
  }
  std::lock_guard<std::mutex> guard(mtx_);
  if (auto i = groups_.find(id); i != groups_.end()) {
    i->second.records_out += written;
    show(id, i->second);
  }
}

std::string group_router::encode(const std::string& id, const caf::strong_actor_ptr& sender,
                                 const caf::message& msg, peer_ref to, encoded& out) {
  auto& buf = out.buf;
  wire::start_record(buf, wire::kind::group_message);
  buf.push_back(static_cast<char>(static_cast<uint8_t>(id.size())));
  buf.insert(buf.end(), id.begin(), id.end());
  codec_.put_sender(buf, sender);
  std::vector<caf::strong_actor_ptr> no_stages;
  out.exports = buffer_export{codec_.pool(), to.slot, to.incarnation, {}};
  if (auto err = codec_.put_content(buf, no_stages, msg,
                                    out.exports.pool ? &out.exports : nullptr)) {
    out.exports.cancel();
    return sys_.render(from_serializer(sys_, err, msg));
  }
  if (buf.size() > settings_.max_message_size) {
    out.exports.cancel();
    return "message " + type_names(sys_, msg) + " of " + std::to_string(buf.size())
           + " bytes exceeds shmbus.max-message-size ("
           + std::to_string(settings_.max_message_size)
           + " bytes); send less or raise the server's max-message-size";
  }
  return {};
}

void group_router::undelivered(const std::string& id, peer_ref to, uint64_t n,
                               const std::string& why, bool written) {
  {
    std::lock_guard<std::mutex> guard(mtx_);
    if (auto i = groups_.find(id); i != groups_.end()) {
      i->second.undelivered += n;
      if (written)
        i->second.records_out -= std::min(n, i->second.records_out);
      show(id, i->second);
    }
  }
  log_.write("group/" + id + "/" + std::to_string(to.slot) + "/" + std::to_string(to.incarnation),
             "a message to group '" + id + "' was not delivered to node '"
               + peers_.name_of(to.slot) + "': " + why
               + " (further failures of this group and node are counted in node::groups(), "
                 "not logged)");
}

// -- peers ------------------------------------------------------------------------

void group_router::peer_joined(peer_ref peer) {
  std::lock_guard<std::mutex> guard(mtx_);
  // A new incarnation of a slot replaces the old one everywhere.
  auto stale = [&](peer_ref x) { return same_slot(x, peer); };
  known_.erase(std::remove_if(known_.begin(), known_.end(), stale), known_.end());
  known_.push_back(peer);
  for (auto& [id, g] : groups_) {
    g.processes.erase(std::remove_if(g.processes.begin(), g.processes.end(), stale),
                      g.processes.end());
    if (g.local)
      tell(peer, wire::kind::group_join, id);
  }
}

void group_router::peer_lost(uint32_t slot) {
  std::lock_guard<std::mutex> guard(mtx_);
  auto gone = [&](peer_ref x) { return x.slot == slot; };
  known_.erase(std::remove_if(known_.begin(), known_.end(), gone), known_.end());
  for (auto& kvp : groups_) {
    auto& xs = kvp.second.processes;
    xs.erase(std::remove_if(xs.begin(), xs.end(), gone), xs.end());
  }
}

void group_router::rejoined() {
  std::lock_guard<std::mutex> guard(mtx_);
  for (auto& [id, g] : groups_)
    show(id, g);
}

// -- records in ---------------------------------------------------------------------

std::string group_router::read_name(const std::byte* body, size_t size, size_t& offset,
                                    std::string& out) {
  if (offset >= size)
    return "a group record ends before its name's length";
  auto n = static_cast<uint8_t>(body[offset++]);
  if (n == 0)
    return "a group record with an empty group name";
  if (offset + n > size)
    return "a group name of " + std::to_string(n) + " bytes with "
           + std::to_string(size - offset) + " bytes left in the record";
  out.assign(reinterpret_cast<const char*>(body + offset), n);
  offset += n;
  return {};
}

std::string group_router::on_record(peer_ref from, wire::kind kind, const std::byte* body,
                                    size_t size) {
  if (kind == wire::kind::group_message)
    return on_message(from, body, size);
  std::string id;
  size_t offset = 0;
  if (auto problem = read_name(body, size, offset, id); !problem.empty())
    return problem;
  if (offset != size)
    return std::to_string(size - offset) + " bytes after the group name";
  if (!peers_.alive(from))
    return {}; // an old incarnation: its subscriptions went with it
  std::lock_guard<std::mutex> guard(mtx_);
  auto mine = [&](peer_ref x) { return same_slot(x, from); };
  if (kind == wire::kind::group_leave) {
    if (auto i = groups_.find(id); i != groups_.end()) {
      auto& xs = i->second.processes;
      xs.erase(std::remove_if(xs.begin(), xs.end(), mine), xs.end());
    }
    return {};
  }
  auto* g = state(id);
  if (g == nullptr)
    return "a subscription to group '" + id + "' while this process knows "
           + std::to_string(max_groups) + " groups with subscribers (shmbus::bus::max_groups)";
  auto& xs = g->processes;
  xs.erase(std::remove_if(xs.begin(), xs.end(), mine), xs.end());
  xs.push_back(from);
  return {};
}

std::string group_router::on_message(peer_ref from, const std::byte* body, size_t size) {
  std::string id;
  record_codec::message_head head;
  size_t offset = 0;
  if (auto problem = read_name(body, size, offset, id); !problem.empty())
    return problem;
  if (auto problem = codec_.read_sender(from, body, size, offset, head.sender);
      !problem.empty())
    return problem;
  head.content_offset = offset;
  // Handles of pool buffers inside are adopted only from their sender's slot.
  head.from_slot = from.slot;
  std::vector<caf::strong_actor_ptr> stages;
  caf::message content;
  if (auto err = codec_.read_content(body, size, head, stages, content))
    return "a message to group '" + id + "': " + sys_.render(err);
  auto* mod = module_.load(std::memory_order_acquire);
  if (mod == nullptr)
    return {}; // this process's groups are carried by another bus node
  mod->deliver(id, head.sender, content, &eu_);
  std::lock_guard<std::mutex> guard(mtx_);
  if (auto i = groups_.find(id); i != groups_.end()) {
    ++i->second.records_in;
    show(id, i->second);
  }
  return {};
}

// -- observers ----------------------------------------------------------------------

std::vector<group_view> group_router::groups() const {
  std::vector<group_view> result;
  {
    std::lock_guard<std::mutex> guard(mtx_);
    for (auto& [id, g] : groups_) {
      group_view x;
      x.name = id;
      for (auto& p : g.processes)
        x.processes.push_back(peers_.name_of(p.slot));
      x.published = g.published;
      x.records_out = g.records_out;
      x.undelivered = g.undelivered;
      x.records_in = g.records_in;
      result.push_back(std::move(x));
    }
  }
  // Outside our lock: a group's lock comes first (see the header).
  if (auto* mod = module_.load(std::memory_order_acquire))
    for (auto& x : result)
      x.local_subscribers = mod->subscribers(x.name);
  return result;
}

} // namespace shmbus::bus
