/*
 * tools/trace/text.c - every sentence `sock trace` prints, in English and
 * Spanish.  Texts with printf conversions take the same arguments, in the
 * same order, in both languages (the comment above each says which).
 */
#include "trace.h"

static const char *const texts[TT_COUNT][2] = {
    /* pid, program */
    [TT_START] = {"pid %d runs %s", "el pid %d ejecuta %s"},
    /* pid, parent pid */
    [TT_START_FORK] = {"pid %d is a fork of pid %d: it holds the same sockets",
                       "el pid %d es un fork del pid %d: tiene los mismos sockets"},
    [TT_EXEC] = {"exec(\"%s\")", "exec(\"%s\")"},
    [TT_FORK] = {"fork() %s pid %d", "fork() %s pid %d"},
    [TT_EXIT] = {"pid %d exits", "el pid %d termina"},
    /* pid, signal name */
    [TT_KILLED] = {"pid %d killed by signal %s", "el pid %d murió por la señal %s"},
    /* pid, status */
    [TT_STATUS] = {"pid %d ended with status %d", "el pid %d terminó con estado %d"},
    [TT_END_OF_STREAM] = {"0: end of stream (the peer closed its side)",
                          "0: fin del flujo (el otro lado cerró su parte)"},
    [TT_PARTIAL] = {"(partial)", "(parcial)"},
    [TT_BYTES] = {"%lld bytes", "%lld bytes"},
    [TT_PORT_CHOSEN] = {"the kernel chose port %d", "el kernel eligió el puerto %d"},
    [TT_IMPLICIT_BIND] = {"implicit bind: the kernel chose local port %d",
                          "bind implícito: el kernel eligió el puerto local %d"},
    [TT_KERNEL_KEEPS] = {"the kernel keeps the connection: %s",
                         "el kernel mantiene la conexión: %s"},
    [TT_GONE] = {"gone from the kernel", "ya no existe en el kernel"},
    [TT_UNREAD] = {"%d bytes unread", "%d bytes sin leer"},
    [TT_LOCAL] = {"local", "local"},
    [TT_PEER] = {"peer", "remoto"},
    [TT_MISTAKE] = {"MISTAKE", "ERROR"},
    [TT_NOTE] = {"note", "nota"},

    /* name, call, moved, asked, never sent */
    [TT_D1_SEND] = {"%s.%s does not continue where the kernel stopped: the send before moved "
                    "%lld of %lld bytes and the other %lld were never sent. Loop until every "
                    "byte is sent (sendall).",
                    "%s.%s no continúa donde se detuvo el kernel: el send anterior movió %lld "
                    "de %lld bytes y los otros %lld nunca se enviaron. Repite send hasta "
                    "enviar todos los bytes (sendall)."},
    /* name, moved, asked, never sent */
    [TT_D1_CLOSE] = {"%s closed with a partial send unfinished: %lld of %lld bytes sent, %lld "
                     "never sent. Loop until every byte is sent (sendall).",
                     "%s se cerró con un send parcial sin terminar: %lld de %lld bytes "
                     "enviados, %lld nunca enviados. Repite send hasta enviar todos los bytes "
                     "(sendall)."},
    [TT_D1_EXIT] = {"at exit %s still had a partial send unfinished: %lld of %lld bytes sent, "
                    "%lld never sent. Loop until every byte is sent (sendall).",
                    "al terminar, %s tenía un send parcial sin terminar: %lld de %lld bytes "
                    "enviados, %lld nunca enviados. Repite send hasta enviar todos los bytes "
                    "(sendall)."},
    /* name, peer, step */
    [TT_D2] = {"the process was killed by SIGPIPE writing to %s (peer %s) after the peer had "
               "closed (its last write before: step %d). Send with MSG_NOSIGNAL, or ignore "
               "SIGPIPE (signal(SIGPIPE, SIG_IGN)), and handle EPIPE.",
               "el proceso murió por SIGPIPE al escribir en %s (remoto %s) después de que el "
               "otro lado cerrara (su escritura anterior: paso %d). Envía con MSG_NOSIGNAL, o "
               "ignora SIGPIPE (signal(SIGPIPE, SIG_IGN)), y trata EPIPE."},
    [TT_D2_NOSEND] = {"the process was killed by SIGPIPE: it wrote to a socket or pipe whose "
                      "reader had gone. Send with MSG_NOSIGNAL, or ignore SIGPIPE, and handle "
                      "EPIPE.",
                      "el proceso murió por SIGPIPE: escribió en un socket o pipe cuyo lector "
                      "ya no estaba. Envía con MSG_NOSIGNAL, o ignora SIGPIPE, y trata EPIPE."},
    /* name, bytes */
    [TT_D3_CLOSE] = {"%s closed with %d bytes received and never read: the kernel answers "
                     "with a reset (RST) and the peer can lose the reply. Read until recv "
                     "returns 0 (or shutdown(SHUT_WR) and drain) before closing.",
                     "%s se cerró con %d bytes recibidos y nunca leídos: el kernel responde "
                     "con un reset (RST) y el otro lado puede perder la respuesta. Lee hasta "
                     "que recv devuelva 0 (o shutdown(SHUT_WR) y vacía) antes de cerrar."},
    [TT_D3_EXIT] = {"at exit %s still had %d bytes received and never read: the kernel "
                    "resets the connection and the peer can lose the reply. Read them, then "
                    "close the socket.",
                    "al terminar, %s tenía %d bytes recibidos y nunca leídos: el kernel "
                    "resetea la conexión y el otro lado puede perder la respuesta. Léelos y "
                    "cierra el socket."},
    /* name, port, connections */
    [TT_D4] = {"%s.bind: port %s is still held by %d connection(s) of an earlier run "
               "(TIME_WAIT) and SO_REUSEADDR was not set. Set SO_REUSEADDR to 1 before bind.",
               "%s.bind: el puerto %s sigue ocupado por %d conexión(es) de una ejecución "
               "anterior (TIME_WAIT) y no se puso SO_REUSEADDR. Pon SO_REUSEADDR en 1 antes "
               "de bind."},
    /* name, port */
    [TT_D4_OTHER] = {"%s.bind: another socket is already listening on port %s: a second "
                     "server is running. Stop it or choose another port.",
                     "%s.bind: otro socket ya escucha en el puerto %s: hay un segundo "
                     "servidor. Detenlo o elige otro puerto."},
    /* name */
    [TT_D5_ACEP] = {"at exit the acceptor %s is still open: shutdown and close it before "
                    "exiting (the seed's last slide).",
                    "al terminar, el aceptador %s sigue abierto: hazle shutdown y close antes "
                    "de salir (la última diapositiva)."},
    [TT_D5_SOCK] = {"at exit %s is still open: close every socket before exiting.",
                    "al terminar, %s sigue abierto: cierra cada socket antes de salir."},
    /* count */
    [TT_D5_LEAK] = {"at exit %d accepted sockets were never closed: a descriptor leaks per "
                    "connection. Close each one when its client is done.",
                    "al terminar, %d sockets aceptados nunca se cerraron: se pierde un "
                    "descriptor por conexión. Cierra cada uno al terminar con su cliente."},
    [TT_D5_GROWTH] = {"%d earlier clients have closed but their sockets are still open: a "
                      "descriptor leaks per connection. Close each one when its client is "
                      "done.",
                      "%d clientes anteriores ya cerraron pero sus sockets siguen abiertos: "
                      "se pierde un descriptor por conexión. Cierra cada uno al terminar con "
                      "su cliente."},
    /* name, closing thread, blocked thread */
    [TT_D6_ACCEPT] = {"%s closed by thread %s while thread %s is blocked in accept on it, "
                      "without shutdown first: that thread will never wake. Call "
                      "shutdown(SHUT_RDWR) before close.",
                      "el hilo %2$s cerró %1$s mientras el hilo %3$s está bloqueado en accept "
                      "sobre él, sin shutdown antes: ese hilo no despertará nunca. Llama a "
                      "shutdown(SHUT_RDWR) antes de close."},
    [TT_D6_RECV] = {"%s closed by thread %s while thread %s is blocked in recv on it, without "
                    "shutdown first: that thread will never wake. Call shutdown(SHUT_RDWR) "
                    "before close.",
                    "el hilo %2$s cerró %1$s mientras el hilo %3$s está bloqueado en recv "
                    "sobre él, sin shutdown antes: ese hilo no despertará nunca. Llama a "
                    "shutdown(SHUT_RDWR) antes de close."},
    /* name, call, count */
    [TT_D7] = {"%s.%s returned 0 (end of stream) %lld times: the peer had closed. Leave the "
               "recv loop at the first 0.",
               "%s.%s devolvió 0 (fin del flujo) %lld veces: el otro lado ya había cerrado. "
               "Sal del bucle de recv con el primer 0."},
    /* thread, thread, name */
    [TT_D8_SEND] = {"threads %s and %s send on %s at the same time: their bytes can "
                    "interleave. Send from one thread, or hold one mutex around each whole "
                    "message.",
                    "los hilos %s y %s envían por %s a la vez: sus bytes pueden mezclarse. "
                    "Envía desde un solo hilo, o protege cada mensaje entero con un mutex."},
    [TT_D8_RECV] = {"threads %s and %s receive on %s at the same time: each gets a part of "
                    "the bytes. Receive from one thread.",
                    "los hilos %s y %s reciben por %s a la vez: cada uno se lleva una parte "
                    "de los bytes. Recibe desde un solo hilo."},
    [TT_SUMMARY] = {"summary", "resumen"},
    [TT_NO_MISTAKES] = {"No mistakes seen.", "No se vio ningún error."},
    [TT_N_MISTAKES] = {"%d mistake(s):", "%d error(es):"},
    [TT_AT_STEP] = {"step %d", "paso %d"},
    [TT_UNSEEN] = {"Not seen from outside, so never reported: short reads not looped (the "
                   "program's message sizes are unknown), byte order, struct padding and "
                   "sizeof in binary protocols, copying a socket object or using it after a "
                   "move, deadlocks between threads, believing listen's backlog caps the "
                   "clients, memory leaks, and SIGPIPE deaths of processes sock trace did not "
                   "start itself.",
                   "No se ve desde afuera, así que nunca se informa: lecturas cortas sin "
                   "bucle (no se conoce el tamaño de los mensajes), orden de bytes, relleno "
                   "de structs y sizeof en protocolos binarios, copiar un socket o usarlo "
                   "después de moverlo, interbloqueos entre hilos, creer que el backlog de "
                   "listen limita los clientes, fugas de memoria, y las muertes por SIGPIPE "
                   "de procesos que sock trace no lanzó él mismo."},
    [TT_SVG_TITLE] = {"sock trace: %s", "sock trace: %s"},
};

const char *trace_text(int es, enum trace_text id)
{
    if ((int)id < 0 || id >= TT_COUNT || !texts[id][0])
        return "?";
    return texts[id][es ? 1 : 0];
}
