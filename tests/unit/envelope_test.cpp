#include <catch2/catch.hpp>

#include "mq/envelope_json.hpp"

TEST_CASE("message ids are 32 lowercase hex characters") {
  auto id = mq::generate_message_id();
  REQUIRE(id.size() == 32);
  REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
  REQUIRE(id != mq::generate_message_id());
}
