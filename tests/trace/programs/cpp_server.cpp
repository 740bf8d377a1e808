// cpp_server - the course's multi-client server in C++, for the tests of
// `sock trace`: a small move-only RAII Socket, an acceptor thread, one
// thread per client (each echoes lines "echo: LINE" until its client
// closes), finished clients reaped, and "q" on standard input stops it:
// shutdown + close of the acceptor wakes the acceptor thread, and every
// thread is joined.
//
//   cpp_server PORT [MISTAKE]
//
// Each MISTAKE seeds exactly one of the course's mistakes:
//   no-shutdown  "q" closes the acceptor without shutdown: the acceptor
//                thread stays blocked in accept for ever
//   leak         each client's socket is released, never closed
//   unread       a client thread reads 8 bytes at a time and closes after
//                its first line, with the rest of what the client sent unread
//   sigpipe      answers without MSG_NOSIGNAL, again and again, to a client
//                that has gone (dies of SIGPIPE)
//   noreuse      no SO_REUSEADDR before bind, and each client thread closes
//                after its first answer (so the port is left in TIME_WAIT)
// $TRACE_FAMILY=6 makes it listen on IPv6 (::).  It prints "port N" on standard output once it listens.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>

static std::string mistake = "none";

class Socket {
    int fd = -1;
    explicit Socket(int f) : fd(f) {}

public:
    explicit Socket(const char *serv) {
        addrinfo hints{}, *res;
        const char *fam = std::getenv("TRACE_FAMILY");
        hints.ai_family = fam && std::strcmp(fam, "6") == 0 ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        if (getaddrinfo(nullptr, serv, &hints, &res) != 0)
            throw std::runtime_error("getaddrinfo failed");
        fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
        int one = 1;
        // TIME_WAIT of an earlier run would block bind.
        if (mistake != "noreuse")
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int rc = bind(fd, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
        if (rc != 0 || listen(fd, 16) != 0) {
            int err = errno;
            ::close(fd);
            throw std::system_error(err, std::generic_category(), "bind/listen");
        }
    }
    Socket(const Socket &) = delete;
    Socket &operator=(const Socket &) = delete;
    Socket(Socket &&o) noexcept : fd(o.fd) { o.fd = -1; }
    ~Socket() { close(); }

    Socket accept() {
        int n = ::accept(fd, nullptr, nullptr);
        if (n < 0)
            throw std::system_error(errno, std::generic_category(), "accept");
        return Socket(n);
    }
    int port() const {
        sockaddr_storage me{};
        socklen_t len = sizeof me;
        getsockname(fd, reinterpret_cast<sockaddr *>(&me), &len);
        // The port sits at the same place in sockaddr_in and sockaddr_in6.
        return ntohs(reinterpret_cast<sockaddr_in *>(&me)->sin_port);
    }
    // 0: the peer closed.
    size_t recvsome(char *buf, size_t len) {
        ssize_t n = ::recv(fd, buf, len, 0);
        if (n < 0)
            throw std::system_error(errno, std::generic_category(), "recv");
        return static_cast<size_t>(n);
    }
    void sendall(const char *buf, size_t len) {
        for (size_t sent = 0; sent < len;) {
            ssize_t n = ::send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
            if (n < 0)
                throw std::system_error(errno, std::generic_category(), "send");
            sent += static_cast<size_t>(n);
        }
    }
    // The mistake of "sigpipe": no MSG_NOSIGNAL, errors ignored.
    void send_careless(const char *buf, size_t len) { ::send(fd, buf, len, 0); }
    void shutdown(int how) { ::shutdown(fd, how); }
    void close() {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
    // The leak: the descriptor is forgotten, never closed.
    void release() { fd = -1; }
};

class ClientHandler {
    Socket peer;
    std::atomic<bool> done{false};
    std::thread th;

    void run() {
        std::string pending;
        char buf[512];
        try {
            for (;;) {
                size_t n = peer.recvsome(buf, mistake == "unread" ? 8 : sizeof buf);
                if (n == 0)
                    break;
                pending.append(buf, n);
                size_t nl;
                bool stop = false;
                while ((nl = pending.find('\n')) != std::string::npos) {
                    std::string reply = "echo: " + pending.substr(0, nl) + "\n";
                    pending.erase(0, nl + 1);
                    if (mistake == "sigpipe") {
                        // The client has gone: the first send is answered
                        // with a reset, a later one raises SIGPIPE.
                        for (int k = 0; k < 100; k++) {
                            peer.send_careless(reply.data(), reply.size());
                            std::this_thread::sleep_for(std::chrono::milliseconds(20));
                        }
                    }
                    peer.sendall(reply.data(), reply.size());
                    stop = mistake == "unread" || mistake == "noreuse";
                }
                if (stop)
                    break;
            }
        } catch (const std::exception &) {
        }
        if (mistake == "leak")
            peer.release();
        else
            peer.close();
        done = true;
    }

public:
    explicit ClientHandler(Socket s) : peer(std::move(s)), th(&ClientHandler::run, this) {}
    bool finished() const { return done; }
    void join() { th.join(); }
};

int main(int argc, char **argv) {
    if (argc < 2) {
        std::cerr << "usage: cpp_server PORT [MISTAKE]\n";
        return 2;
    }
    if (argc > 2)
        mistake = argv[2];
    std::unique_ptr<Socket> made;
    try {
        made = std::make_unique<Socket>(argv[1]);
    } catch (const std::exception &e) {
        std::cerr << "cpp_server: " << e.what() << "\n";
        return 1;
    }
    Socket &acep = *made;
    std::cout << "port " << acep.port() << std::endl;

    std::thread acceptor([&acep] {
        std::list<std::unique_ptr<ClientHandler>> clients;
        try {
            for (;;) {
                clients.push_back(std::make_unique<ClientHandler>(acep.accept()));
                // Reap the clients that are done.
                for (auto it = clients.begin(); it != clients.end();)
                    if ((*it)->finished()) {
                        (*it)->join();
                        it = clients.erase(it);
                    } else {
                        ++it;
                    }
            }
        } catch (const std::exception &) {
            // accept fails once the acceptor is shut down: time to stop.
        }
        for (auto &c : clients)
            c->join();
    });

    std::string line;
    while (std::getline(std::cin, line) && line != "q")
        ;
    if (mistake != "no-shutdown")
        acep.shutdown(SHUT_RDWR);
    acep.close();
    acceptor.join();
    return 0;
}
