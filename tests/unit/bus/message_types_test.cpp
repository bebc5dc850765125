// message_types writes the bytes of caf::message::save and reads them back
// as caf::message::load does, with the same errors, under a bounded cache.
#include <doctest/doctest.h>

#include <limits>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include <caf/scoped_execution_unit.hpp>

#include "flat_message.hpp"
#include "guarded_deserializer.hpp"
#include "guarded_serializer.hpp"
#include "message_types.hpp"

using shmbus::bus::flat_message_data;
using shmbus::bus::guarded_deserializer;
using shmbus::bus::guarded_serializer;
using shmbus::bus::message_types;

namespace {

struct point {
  int32_t x = 0;
  int32_t y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("message_types_test_point"), p.x, p.y);
}

/// Not registered with the actor system.
struct stranger {
  int32_t x = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stranger& s) {
  return f(caf::meta::type_name("message_types_test_stranger"), s.x);
}

struct config : caf::actor_system_config {
  config() {
    add_message_type<point>("message_types_test_point");
  }
};

std::vector<char> caf_bytes(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto copy = msg;
  REQUIRE(!copy.save(sink));
  return buf;
}

std::vector<char> our_bytes(caf::actor_system& sys, const message_types& types,
                            const caf::message& msg) {
  std::vector<char> buf;
  guarded_serializer sink{sys, buf};
  REQUIRE(!types.save(sink, msg));
  return buf;
}

caf::error read(caf::actor_system& sys, message_types& types, const std::vector<char>& buf,
                caf::message& out) {
  caf::scoped_execution_unit eu{&sys};
  guarded_deserializer source{&eu, reinterpret_cast<const std::byte*>(buf.data()), buf.size()};
  if (auto err = types.load(source, out))
    return err;
  if (source.remaining() != 0)
    return caf::make_error(caf::sec::invalid_argument, "bytes left after the message");
  return caf::none;
}

/// A message object of `n` int32 elements, each `value`.
std::vector<char> int_list(caf::actor_system& sys, size_t n, int32_t value) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  uint16_t zero = 0;
  std::string name = "@<>";
  for (size_t i = 0; i < n; ++i)
    name += "+@i32";
  REQUIRE(!sink.begin_object(zero, name));
  for (size_t i = 0; i < n; ++i)
    REQUIRE(!sink(value));
  REQUIRE(!sink.end_object());
  return buf;
}

} // namespace

TEST_CASE("message_types writes the bytes of caf::message::save") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  std::vector<caf::message> messages{
    caf::make_message(),
    caf::make_message(caf::atom("ping"), uint64_t{7}, std::string(64, 'x')),
    caf::make_message(point{1, 2}, int32_t{3}),
    caf::make_message(std::string{"s"}, 2.5, int8_t{-1}),
    // Flat elements, written without CAF's serializer.
    caf::make_message(true, false, int8_t{-128}, uint8_t{255}, int16_t{-2}, uint16_t{65535}),
    caf::make_message(int32_t{-7}, uint32_t{4000000000u}, std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<uint64_t>::max(), caf::atom("a")),
    caf::make_message(std::string{}, std::string(127, 'a'), std::string(128, 'b'),
                      std::string(20000, 'c')),
  };
  // Twice: the second time from the thread's cache of names.
  for (int round = 0; round < 2; ++round)
    for (auto& msg : messages)
      CHECK(our_bytes(sys, types, msg) == caf_bytes(sys, msg));
}

TEST_CASE("message_types reads what caf::message::save wrote, with equal values") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  auto msg = caf::make_message(caf::atom("ping"), uint64_t{7}, std::string{"abc"}, point{4, 5});
  for (int round = 0; round < 2; ++round) {
    caf::message out = caf::make_message(1);
    REQUIRE(!read(sys, types, caf_bytes(sys, msg), out));
    REQUIRE(out.match_elements<caf::atom_value, uint64_t, std::string, point>());
    CHECK(out.get_as<caf::atom_value>(0) == caf::atom("ping"));
    CHECK(out.get_as<uint64_t>(1) == 7);
    CHECK(out.get_as<std::string>(2) == "abc");
    CHECK(out.get_as<point>(3).y == 5);
    CHECK(out.type_token() == msg.type_token());
  }
  caf::message empty = caf::make_message(1);
  REQUIRE(!read(sys, types, caf_bytes(sys, caf::make_message()), empty));
  CHECK(empty.empty());
}

TEST_CASE("message_types refuses unknown and unregistered types as CAF does") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  std::vector<char> buf;
  guarded_serializer sink{sys, buf};
  auto err = types.save(sink, caf::make_message(stranger{1}));
  CHECK(err == caf::sec::unknown_type);

  std::vector<char> forged;
  caf::binary_serializer out{sys, forged};
  uint16_t zero = 0;
  std::string name = "@<>+@i32+no_such_type";
  REQUIRE(!out.begin_object(zero, name));
  caf::message msg;
  err = read(sys, types, forged, msg);
  CHECK(err == caf::sec::unknown_type);
  CHECK(sys.render(err).find("no_such_type") != std::string::npos);

  // Not a message object, a non-zero type number, a cut-off element.
  for (std::string bad : {"@<>x", "@i32", ""}) {
    std::vector<char> b;
    caf::binary_serializer s{sys, b};
    uint16_t nr = 0;
    REQUIRE(!s.begin_object(nr, bad));
    CHECK(read(sys, types, b, msg) == caf::sec::unknown_type);
  }
  std::vector<char> numbered;
  caf::binary_serializer s{sys, numbered};
  uint16_t nr = 3;
  std::string none;
  REQUIRE(!s.begin_object(nr, none));
  CHECK(read(sys, types, numbered, msg) == caf::sec::unknown_type);
  auto cut = int_list(sys, 2, 9);
  cut.resize(cut.size() - 2);
  CHECK(read(sys, types, cut, msg));
}

TEST_CASE("message_types reads more type lists than it caches, each correctly") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  auto lists = 2 * message_types::max_cached_lists + 3;
  for (int round = 0; round < 2; ++round)
    for (size_t n = 1; n <= lists; ++n) {
      caf::message out;
      REQUIRE(!read(sys, types, int_list(sys, n, static_cast<int32_t>(n)), out));
      REQUIRE(out.size() == n);
      CHECK(out.get_as<int32_t>(n - 1) == static_cast<int32_t>(n));
      CHECK(types.cached_lists() <= message_types::max_cached_lists);
    }
}

TEST_CASE("a message of flat builtins reads into one flat_message_data equal to CAF's") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  std::vector<caf::message> messages{
    caf::make_message(caf::atom("ping"), std::numeric_limits<uint64_t>::max(),
                      std::string(64, 'x')),
    caf::make_message(true, false, int8_t{-128}, uint8_t{255}),
    caf::make_message(int16_t{-2}, uint16_t{65535}, int32_t{-7}, uint32_t{4000000000u}),
    caf::make_message(int64_t{std::numeric_limits<int64_t>::min()}, std::string{}),
    // Lengths of one to three varbyte bytes.
    caf::make_message(std::string(127, 'a'), std::string(128, 'b'), std::string(20000, 'c')),
  };
  for (auto& msg : messages) {
    CAPTURE(caf::to_string(msg));
    caf::message out;
    REQUIRE(!read(sys, types, caf_bytes(sys, msg), out));
    CHECK(dynamic_cast<const flat_message_data*>(out.cvals().get()) != nullptr);
    CHECK(out.type_token() == msg.type_token());
    REQUIRE(out.size() == msg.size());
    for (size_t i = 0; i < msg.size(); ++i) {
      CHECK(out.type(i) == msg.type(i));
      CHECK(out.cvals()->stringify(i) == msg.cvals()->stringify(i));
    }
    CHECK(caf::to_string(out) == caf::to_string(msg));
    // It writes the bytes it was read from, and copies as any message.
    CHECK(caf_bytes(sys, out) == caf_bytes(sys, msg));
    auto copy = out;
    copy.vals().unshared(); // a copy on write
    CHECK(caf::to_string(copy) == caf::to_string(msg));
  }
  // Handlers match it by type and see the values.
  caf::message out;
  REQUIRE(!read(sys, types, caf_bytes(sys, messages[0]), out));
  bool matched = false;
  caf::message_handler handler{
    [&](caf::atom_value a, uint64_t n, const std::string& s) {
      matched = a == caf::atom("ping") && n == std::numeric_limits<uint64_t>::max()
                && s == std::string(64, 'x');
    },
  };
  handler(out);
  CHECK(matched);
}

TEST_CASE("a cut-off flat element and a string length of six bytes are refused") {
  config cfg;
  caf::actor_system sys{cfg};
  message_types types{sys};
  auto whole = caf_bytes(sys, caf::make_message(uint64_t{1}, std::string(300, 's')));
  caf::message out;
  // Every shorter prefix: inside the name, the integer, the length, the chars.
  for (size_t n = 0; n < whole.size(); ++n) {
    std::vector<char> cut{whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n)};
    CHECK_MESSAGE(read(sys, types, cut, out), n);
  }
  // The length's continuation bit set on five bytes in a row.
  auto head = caf_bytes(sys, caf::make_message(std::string{}));
  head.pop_back(); // the empty string's length byte
  for (int i = 0; i < 6; ++i)
    head.push_back(static_cast<char>(0x81));
  head.push_back(0);
  CHECK(read(sys, types, head, out) == caf::sec::invalid_argument);
}
