/*
 * tools/demo/text.c - every sentence the demo prints, in English and Spanish.
 *
 * The course speaks Spanish, so the Spanish texts use the slides' words
 * (acep, srv, "Puerto 80 ??").  Texts with %s/%d are printf formats; their
 * arguments are the same, in the same order, in both languages.
 */
#include "demo.h"

#include <stdlib.h>
#include <string.h>

static int spanish;

static const char *const texts[T_COUNT][2] = {
    [T_TITLE] = {"sock demo - the life of one TCP connection, step by step",
                 "sock demo - la vida de una conexión TCP, paso a paso"},
    [T_SUBTITLE] = {"The seed's script played by libsock between a client and a server; "
                    "states read from the kernel.",
                    "El guion de las diapositivas, ejecutado con libsock entre un cliente y "
                    "un servidor; estados leídos del kernel."},
    [T_CLIENT] = {"client", "cliente"},
    [T_SERVER] = {"server", "servidor"},
    [T_STEP] = {"step", "paso"},
    [T_WIRE] = {"on the wire", "en el cable"},
    [T_NO_SEGMENTS] = {"(nothing: this step sends no segment)",
                       "(nada: este paso no envía ningún segmento)"},
    [T_NO_CAPTURE] = {"Segments are not shown: capturing them needs CAP_NET_RAW (%s). "
                      "Run as root to see them.",
                      "No se muestran los segmentos: capturarlos requiere CAP_NET_RAW (%s). "
                      "Ejecútalo como root para verlos."},
    [T_CAPTURE_ON] = {"Capturing TCP segments on interface %s.",
                      "Capturando segmentos TCP en la interfaz %s."},
    [T_MORE_SEGMENTS] = {"... and %d more segments", "... y %d segmentos más"},
    [T_NO_FD_YET] = {"no descriptor yet (created at bind/connect)",
                     "aún sin descriptor (se crea en bind/connect)"},
    [T_FD_CLOSED] = {"closed", "cerrado"},
    [T_GONE] = {"gone from the kernel", "ya no existe en el kernel"},
    [T_QUEUE] = {"accept queue %u of %u", "cola de accept %u de %u"},
    [T_UNREAD] = {"%d bytes unread", "%d bytes sin leer"},
    [T_TW_LEFT] = {"%.1f s left", "quedan %.1f s"},
    [T_KERNEL_KEEPS] = {"kernel keeps", "el kernel guarda"},
    [T_PRESS_ENTER] = {"-- press Enter for the next step --",
                       "-- pulsa Intro para el siguiente paso --"},

    [T_S1] = {"socket(): each side gets a socket", "socket(): cada lado obtiene un socket"},
    [T_S1_NOTE] = {"Nothing reaches the network yet. libsock creates the descriptor at "
                   "bind/connect, once the name is resolved and the family is known.",
                   "Todavía nada llega a la red. libsock crea el descriptor en bind/connect, "
                   "cuando el nombre está resuelto y se conoce la familia."},
    [T_S2] = {"bind(): the server takes its address and port",
              "bind(): el servidor toma su dirección y su puerto"},
    [T_S2_NOTE] = {"Port \"0\" lets the kernel choose a free port; with --netns the server "
                   "binds 10.2.2.2 port 80 as on the slides. Bound but not listening, the socket is in state CLOSE for the kernel.",
                   "El puerto \"0\" deja que el kernel elija uno libre; con --netns el "
                   "servidor usa 10.2.2.2 puerto 80, como en las diapositivas. Asociado pero sin escuchar, el socket está en estado CLOSE para el kernel."},
    [T_S3] = {"listen(): the socket becomes an acceptor",
              "listen(): el socket pasa a ser un aceptador"},
    [T_S3_NOTE] = {"From now on the kernel completes handshakes by itself and queues the "
                   "connections (up to the backlog) until accept takes them.",
                   "Desde ahora el kernel completa los saludos solo y encola las conexiones "
                   "(hasta el backlog) hasta que accept las recoja."},
    [T_S4A] = {"connect(): the three-way handshake",
               "connect(): el saludo en tres pasos"},
    [T_S4A_NOTE] = {"connect returns once SYN, SYN-ACK and ACK have crossed: the connection "
                    "is ESTABLISHED before the server calls accept. It waits in the queue.",
                    "connect vuelve en cuanto cruzan SYN, SYN-ACK y ACK: la conexión está "
                    "ESTABLISHED antes de que el servidor llame a accept. Espera en la cola."},
    [T_S4B] = {"accept(): a new socket for this client",
               "accept(): un socket nuevo para este cliente"},
    [T_S4B_NOTE] = {"accept sends nothing: it takes the finished connection from the queue "
                    "as a new socket, srv. acep stays LISTEN for more clients.",
                    "accept no envía nada: saca la conexión ya hecha de la cola como un "
                    "socket nuevo, srv. acep sigue en LISTEN para más clientes."},
    [T_S5A] = {"send / recv: the request", "send / recv: la petición"},
    [T_S5A_NOTE] = {"The bytes travel in a data segment; the server's kernel acknowledges "
                    "them before the server even reads.",
                    "Los bytes viajan en un segmento de datos; el kernel del servidor los "
                    "confirma (ACK) antes incluso de que el servidor los lea."},
    [T_S5B] = {"send / recv: the reply", "send / recv: la respuesta"},
    [T_S5B_NOTE] = {"The same, the other way: a TCP connection carries bytes both ways.",
                    "Lo mismo en sentido contrario: una conexión TCP lleva bytes en ambos "
                    "sentidos."},
    [T_S6A] = {"shutdown(): the client closes first", "shutdown(): el cliente cierra primero"},
    [T_S6A_NOTE] = {"The client's FIN tells the server \"no more data\": its recv returns 0 "
                    "(end of stream). The client waits in FIN_WAIT2, the server in CLOSE_WAIT.",
                    "El FIN del cliente le dice al servidor \"no hay más datos\": su recv "
                    "devuelve 0 (fin de flujo). El cliente espera en FIN_WAIT2 y el servidor "
                    "en CLOSE_WAIT."},
    [T_S6B] = {"shutdown(): the server closes too", "shutdown(): el servidor cierra también"},
    [T_S6B_NOTE] = {"The side that closed first (the client) keeps the connection in "
                    "TIME_WAIT, so late segments of it cannot be mistaken for a new one.",
                    "El lado que cerró primero (el cliente) guarda la conexión en TIME_WAIT, "
                    "para que segmentos rezagados no se confundan con una conexión nueva."},
    [T_S7] = {"close(): the descriptors are released", "close(): se liberan los descriptores"},
    [T_S7_NOTE] = {"close frees the descriptor, not the connection: the kernel still holds "
                   "the client's TIME_WAIT, as `ss -tan` would show.",
                   "close libera el descriptor, no la conexión: el kernel aún guarda el "
                   "TIME_WAIT del cliente, como mostraría `ss -tan`."},
    [T_S8A] = {"shutdown() of the acceptor", "shutdown() del aceptador"},
    [T_S8A_NOTE] = {"\"Don't forget the acceptor\": shutdown stops it listening (a thread "
                    "blocked in accept would wake up now).",
                    "\"No olvidar el aceptador\": shutdown deja de escuchar (un hilo "
                    "bloqueado en accept despertaría ahora)."},
    [T_S8B] = {"close() of the acceptor", "close() del aceptador"},
    [T_S8B_NOTE] = {"Its descriptor is released; the port is free again.",
                    "Se libera su descriptor; el puerto vuelve a estar libre."},
    [T_PORT80] = {"Puerto 80 ?? No: the client is on port %d, chosen by the implicit bind of "
                  "connect from the kernel's ephemeral range %d-%d "
                  "(/proc/sys/net/ipv4/ip_local_port_range). Only the server has a fixed "
                  "port, %d here.",
                  "Puerto 80 ?? No: el cliente está en el puerto %d, elegido por el bind "
                  "implícito de connect del rango efímero del kernel %d-%d "
                  "(/proc/sys/net/ipv4/ip_local_port_range). Solo el servidor tiene un "
                  "puerto fijo, aquí el %d."},
    [T_PORT80_NETNS] = {"", ""},
    [T_AB5A] = {"send / recv: the server reads only part",
                "send / recv: el servidor lee solo una parte"},
    [T_AB5A_NOTE] = {"The client sends its request and more; the server reads only the "
                     "request line. The rest stays unread in srv's receive buffer.",
                     "El cliente envía su petición y algo más; el servidor solo lee la línea "
                     "de la petición. El resto queda sin leer en el búfer de srv."},
    [T_AB5B] = {"send: a long reply", "send: una respuesta larga"},
    [T_AB5B_NOTE] = {"The client does not read yet, so only part of the reply fits in "
                     "flight; the rest waits in the server's kernel.",
                     "El cliente aún no lee, así que solo parte de la respuesta cabe en "
                     "vuelo; el resto espera en el kernel del servidor."},
    [T_AB6] = {"close() with unread data: RST", "close() con datos sin leer: RST"},
    [T_AB6_NOTE] = {"Closing with unread received data makes the kernel abort: it sends RST "
                    "instead of FIN and throws away the reply it had not sent yet.",
                    "Cerrar con datos recibidos sin leer hace que el kernel aborte: envía RST "
                    "en lugar de FIN y tira la parte de la respuesta que aún no había enviado."},
    [T_AB7] = {"recv: what the client gets", "recv: lo que recibe el cliente"},
    [T_AB7_NOTE] = {"The client reads what had arrived, then ECONNRESET instead of end of "
                    "stream. No TIME_WAIT on either side: a reset leaves none.",
                    "El cliente lee lo que había llegado y después ECONNRESET en lugar de fin "
                    "de flujo. Ningún lado queda en TIME_WAIT: un reset no lo deja."},
    [T_AB_LOST] = {"The server's send handed %lld bytes to its kernel; the client received "
                   "%lld. %lld bytes of the reply were lost to the reset.",
                   "El send del servidor entregó %lld bytes a su kernel; el cliente recibió "
                   "%lld. Se perdieron %lld bytes de la respuesta por el reset."},
    [T_AB_KEPT] = {"The server's send handed %lld bytes to its kernel and the client "
                   "received all %lld before the reset: nothing was lost this time.",
                   "El send del servidor entregó %lld bytes a su kernel y el cliente los "
                   "recibió todos (%lld) antes del reset: esta vez no se perdió nada."},
    [T_END] = {"Done: the connection went LISTEN -> ESTABLISHED -> FIN_WAIT2/CLOSE_WAIT -> "
               "TIME_WAIT on the side that closed first.",
               "Hecho: la conexión pasó LISTEN -> ESTABLISHED -> FIN_WAIT2/CLOSE_WAIT -> "
               "TIME_WAIT en el lado que cerró primero."},
    [T_END_ABORT] = {"Done: closing with unread data reset the connection and lost part of "
                     "the reply. Read everything (or shut down and drain) before close.",
                     "Hecho: cerrar con datos sin leer reinició la conexión y perdió parte de "
                     "la respuesta. Lee todo (o haz shutdown y vacía) antes de close."},
    [T_SVG_WRITTEN] = {"Sequence diagram written to %s.",
                       "Diagrama de secuencia escrito en %s."},
    [T_BYTES] = {"bytes", "bytes"},
    [T_EOF] = {"end of stream", "fin de flujo"},
    [T_NETNS_INFO] = {"Network namespaces %s (10.1.1.1) and %s (10.2.2.2), joined by a veth "
                      "pair; removed at the end.",
                      "Espacios de nombres de red %s (10.1.1.1) y %s (10.2.2.2), unidos por un "
                      "par veth; se borran al final."},
    [T_DROPS] = {"(the capture lost %u packets to a busy interface)",
                 "(la captura perdió %u paquetes por una interfaz ocupada)"},
    [T_UNSENT] = {"%d bytes not yet acknowledged", "%d bytes aún sin confirmar"},
    [T_RETRANS] = {"retransmission", "retransmisión"},
    [T_FROM] = {"from", "desde"},
    [T_THEN] = {"then", "después"},
    [T_OF] = {"of", "de"},
    [T_UNTIL_END] = {"until the end", "hasta el final"},
};

const char *demo_text(enum demo_text id)
{
    if (id < 0 || id >= T_COUNT)
        return "";
    const char *t = texts[id][spanish];
    return t ? t : (texts[id][0] ? texts[id][0] : "");
}

void demo_text_set_spanish(int on)
{
    spanish = on != 0;
}

/* The first of LC_ALL, LC_MESSAGES, LANG that is set decides, as for
 * gettext. */
int demo_text_env_spanish(void)
{
    static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return strncmp(v, "es", 2) == 0;
    }
    return 0;
}
