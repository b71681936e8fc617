// Installing: cmake --install puts mq, its man page and the completions where
// the system looks for them; cpack -G DEB makes a package that depends on
// Debian's runtime libraries and whose mq runs.

#include "shell_support.hpp"

using namespace mqtest;
using namespace shelltest;

namespace fs = std::filesystem;

TEST_CASE("shell: cmake --install puts mq, the man page and the completions in place") {
  Sandbox sandbox;
  auto prefix = sandbox.dir.path() / "usr" / "local";
  auto installed = run({"cmake", "--install", build_dir(), "--prefix", prefix.string()}, {}, sandbox.env);
  INFO(installed.out << installed.err);
  REQUIRE(installed.exit_code == 0);
  for (const char* file : {"bin/mq", "share/man/man1/mq.1", "share/bash-completion/completions/mq",
                           "share/zsh/site-functions/_mq", "share/fish/vendor_completions.d/mq.fish"})
    CHECK(fs::exists(prefix / file));
  auto version = run({(prefix / "bin" / "mq").string(), "--version"}, {}, sandbox.env);
  REQUIRE(version.exit_code == 0);
  CHECK(version.out.rfind(std::string("mq ") + MQ_VERSION + " (librdkafka ", 0) == 0);
  auto man = sandbox.sh("man -w mq", {{"MANPATH", (prefix / "share" / "man").string()}});
  CHECK(man.out == (prefix / "share" / "man" / "man1" / "mq.1").string() + "\n");

  // A package's prefix: the zsh completion goes where Debian's zsh looks.
  auto root = sandbox.dir.path() / "root";
  auto staged = run({"cmake", "--install", build_dir(), "--prefix", "/usr"}, {}, Env{{"DESTDIR", root.string()}});
  REQUIRE(staged.exit_code == 0);
  CHECK(fs::exists(root / "usr/share/zsh/vendor-completions/_mq"));
  CHECK(fs::exists(root / "usr/share/bash-completion/completions/mq"));
}

TEST_CASE("shell: cpack -G DEB builds a package of Debian runtime libraries whose mq runs from dpkg -x") {
#if defined(__SANITIZE_ADDRESS__)
  // A sanitized mq is no package (it would depend on libasan), and
  // dpkg-shlibdeps takes half a minute over its 100 MB: the release build's
  // run of this test is the one that counts.
  WARN("skipped in a sanitizer build");
  return;
#endif
  Sandbox sandbox;
  auto packages = sandbox.dir.path() / "packages";
  auto packed = run({"cpack", "-G", "DEB", "--config", build_dir() + "/CPackConfig.cmake", "-B", packages.string()}, {},
                    sandbox.env, 240s);
  INFO(packed.out << packed.err);
  REQUIRE(packed.exit_code == 0);
  fs::path deb;
  for (const auto& entry : fs::directory_iterator(packages))
    if (entry.path().extension() == ".deb") deb = entry.path();
  REQUIRE(!deb.empty());
  CHECK(deb.filename().string().rfind(std::string("mq_") + MQ_VERSION + "_", 0) == 0);

  auto depends = run({"dpkg-deb", "--field", deb.string(), "Depends"});
  REQUIRE(depends.exit_code == 0);
  INFO("Depends: " << depends.out);
  for (const char* library : {"libpaho-mqtt1.3", "librdkafka1", "libsqlite3-0", "libc6", "libstdc++6"})
    CHECK(contains(depends.out, library));
  // Debian's packages by name, not files or development packages.
  CHECK(!contains(depends.out, "-dev"));
  CHECK(!contains(depends.out, "/"));

  auto root = sandbox.dir.path() / "root";
  REQUIRE(run({"dpkg", "-x", deb.string(), root.string()}).exit_code == 0);
  for (const char* file : {"usr/bin/mq", "usr/share/man/man1/mq.1", "usr/share/bash-completion/completions/mq",
                           "usr/share/zsh/vendor-completions/_mq", "usr/share/fish/vendor_completions.d/mq.fish"})
    CHECK(fs::exists(root / file));
  auto version = run({(root / "usr" / "bin" / "mq").string(), "--version"}, {}, sandbox.env);
  INFO(version.err);
  REQUIRE(version.exit_code == 0);
  CHECK(version.out.rfind(std::string("mq ") + MQ_VERSION + " (librdkafka ", 0) == 0);
  CHECK(contains(version.out, "Paho MQTT C "));
  // And it works: a message there and back through the packaged binary.
  auto mq = (root / "usr" / "bin" / "mq").string();
  REQUIRE(sandbox.sh("'" + mq + "' send packaged && '" + mq + "' receive --format payload").out == "packaged\n");
}
