// The evergreen binary: everything lives in src/daemon (evg_daemon); see src/daemon/README.md.
#include <iostream>

#include "daemon/cli.h"

int main(int argc, char** argv) { return evg::daemon::runCli(argc, argv, std::cout, std::cerr); }
