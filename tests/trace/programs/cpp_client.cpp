// cpp_client - a client in the course's C++ style (a small move-only RAII
// socket class), for the tests of `sock trace`.  It sends one line, prints
// the answer, and its destructor closes the socket.
//
//   cpp_client HOST PORT [MODE]
//
// MODE "none" (or none given) does everything right; "threads" has two
// std::threads send 2 MiB each, one after the other under a mutex, then the
// newline; "hangup" closes without waiting for the answer (to kill a
// careless server).  $TRACE_FAMILY=6 connects over IPv6 (HOST ::1).
// Each mistake, one at a time:
//   partial      a 64 MiB line with one non-blocking send; the rest dropped
//   eof-loop     keeps calling recv after it returned 0
//   two-senders  the two threads send at the same time, without the mutex
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

class Socket {
    int fd = -1;

public:
    Socket(const char *host, const char *serv) {
        const char *fam = std::getenv("TRACE_FAMILY");
        addrinfo hints{}, *res;
        hints.ai_family = fam && std::strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        int rc = getaddrinfo(host, serv, &hints, &res);
        if (rc != 0)
            throw std::runtime_error(gai_strerror(rc));
        for (addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
            if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
                ::close(fd);
                fd = -1;
            }
        }
        freeaddrinfo(res);
        if (fd < 0)
            throw std::system_error(errno, std::generic_category(), "connect");
    }
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;
    ~Socket() {
        if (fd >= 0)
            ::close(fd);
    }

    void sendall(const char *buf, size_t len) {
        for (size_t sent = 0; sent < len;) {
            ssize_t n = ::send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
            if (n < 0)
                throw std::system_error(errno, std::generic_category(), "send");
            sent += static_cast<size_t>(n);
        }
    }
    // The mistake of "partial": whatever the kernel took is taken as all.
    void send_once(const char *buf, size_t len) {
        ::send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    // -1 on error, 0 at the end of the stream.
    ssize_t recvsome(char *buf, size_t len) { return ::recv(fd, buf, len, 0); }
    void small_send_buffer() {
        // Each 2 MiB send then blocks many times: two unlocked senders
        // surely overlap.
        int small = 16384;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    }
};

// Tell the server, through the FIFO $TRACE_GATE if named, that it may
// start reading (see c_server.c): the send above is then surely partial.
static void open_gate() {
    const char *gate = std::getenv("TRACE_GATE");
    int fd = gate && *gate ? ::open(gate, O_WRONLY) : -1;
    if (fd >= 0)
        ::close(fd);
}

static void two_threads(Socket &cli, bool locked) {
    std::mutex lock;
    cli.small_send_buffer();
    auto send_half = [&](char c) {
        std::vector<char> buf(1 << 20 << 1, c);
        std::unique_lock<std::mutex> hold(lock, std::defer_lock);
        if (locked)
            hold.lock();
        cli.sendall(buf.data(), buf.size());
    };
    std::thread a(send_half, 'a'), b(send_half, 'b');
    a.join();
    b.join();
    cli.sendall("\n", 1);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        std::cerr << "usage: cpp_client HOST PORT [MODE]\n";
        return 2;
    }
    std::string mode = argc > 3 ? argv[3] : "none";
    try {
        Socket cli(argv[1], argv[2]);
        if (mode == "partial") {
            std::vector<char> huge(64 << 20, 'x');
            cli.send_once(huge.data(), huge.size());
            open_gate();
            cli.sendall("\n", 1);
        } else if (mode == "threads" || mode == "two-senders") {
            two_threads(cli, mode == "threads");
        } else {
            cli.sendall("hello\n", 6);
        }
        if (mode == "hangup")
            return 0;
        char buf[512];
        ssize_t n;
        if (mode == "eof-loop") {
            // The course's trap: -1 is checked, 0 is not.
            for (int tries = 0; (n = cli.recvsome(buf, sizeof buf)) != -1 && ++tries < 6;)
                std::cout.write(buf, n);
        } else {
            while ((n = cli.recvsome(buf, sizeof buf)) > 0)
                std::cout.write(buf, n);
        }
    } catch (const std::exception &e) {
        std::cerr << "cpp_client: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
