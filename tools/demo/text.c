/*
 * tools/demo/text.c - every sentence the demo prints, in English and Spanish.
 *
 * The course speaks Spanish, so the Spanish texts use the slides' words
 * (acep, srv, "Puerto 80 ??") and the terms Spanish courses use ("saludo de
 * tres vías").  Texts that depend on the mode (--netns or loopback) come in
 * two versions, T_X and T_X_NETNS.  Texts with %s/%d are printf formats; their
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
    [T_KERNEL_KEEPS] = {"kernel keeps",
"el kernel mantiene"},
    [T_PRESS_ENTER] = {"-- press Enter for the next step --",
                       "-- pulsa Intro para el siguiente paso --"},

    [T_S1] = {"socket(): each side gets a socket", "socket(): cada lado obtiene un socket"},
    [T_S1_NOTE] = {"Nothing reaches the network yet. libsock creates the descriptor at "
                   "bind/connect, once the name is resolved and the family is known.",
                   "Todavía no llega nada a la red. libsock crea el descriptor en "
                   "bind/connect, una vez resuelto el nombre y conocida la familia."},
    [T_S2] = {"bind(): the server takes its address and port",
              "bind(): el servidor toma su dirección y su puerto"},
    [T_S2_NOTE] = {"Port \"0\" lets the kernel choose a free port (--netns binds port 80, as "
                   "on the slides). Bound but not listening, the socket is in state CLOSE for "
                   "the kernel.",
                   "El puerto \"0\" deja que el kernel elija uno libre (--netns usa el puerto "
                   "80, como en las diapositivas). Con dirección asignada pero sin escuchar, "
                   "para el kernel el socket está en estado CLOSE."},
    [T_S2_NOTE_NETNS] = {"The server binds 10.2.2.2 port 80, as on the slides, in a network "
                         "namespace of its own. Bound but not listening, the socket is in "
                         "state CLOSE for the kernel.",
                         "El servidor se asocia a 10.2.2.2, puerto 80, como en las "
                         "diapositivas, en su propio espacio de nombres de red. Con dirección "
                         "asignada pero sin escuchar, para el kernel el socket está en estado "
                         "CLOSE."},
    [T_S3] = {"listen(): the socket becomes an acceptor",
              "listen(): el socket pasa a ser un aceptador"},
    [T_S3_NOTE] = {"From now on the kernel completes handshakes by itself and queues the "
                   "connections (up to the backlog) until accept takes them.",
                   "A partir de ahora el kernel completa por sí solo el saludo de tres vías "
                   "y encola las conexiones (como máximo, las del backlog) hasta que accept "
                   "las recoja."},
    [T_S4A] = {"connect(): the three-way handshake",
               "connect(): el saludo de tres vías (three-way handshake)"},
    [T_S4A_NOTE] = {"connect returns once SYN, SYN-ACK and ACK have crossed: the connection "
                    "is ESTABLISHED before the server calls accept. It waits in the queue.",
                    "connect retorna en cuanto se han cruzado SYN, SYN-ACK y ACK: la "
                    "conexión ya está ESTABLISHED antes de que el servidor llame a accept, y "
                    "espera en la cola."},
    [T_S4B] = {"accept(): a new socket for this client",
               "accept(): un socket nuevo para este cliente"},
    [T_S4B_NOTE] = {"accept sends nothing: it takes the finished connection from the queue "
                    "as a new socket, srv. acep stays LISTEN for more clients.",
                    "accept no envía nada: saca de la cola la conexión ya establecida y la "
                    "entrega como un socket nuevo, srv. acep sigue en LISTEN para más "
                    "clientes."},
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
    [T_S6B] = {"shutdown(): the server closes too",
"shutdown(): el servidor también cierra"},
    [T_S6B_NOTE] = {"The side that closed first (the client) keeps the connection in "
                    "TIME_WAIT, so late segments of it cannot be mistaken for a new one.",
                    "El lado que cerró primero (el cliente) mantiene la conexión en "
                    "TIME_WAIT, para que sus segmentos rezagados no se confundan con los de "
                    "una conexión nueva."},
    [T_S7] = {"close(): the descriptors are released", "close(): se liberan los descriptores"},
    [T_S7_NOTE] = {"close frees the descriptor, not the connection: the kernel still holds "
                   "the client's TIME_WAIT, as `ss -tan` would show.",
                   "close libera el descriptor, no la conexión: el kernel aún mantiene el "
                   "TIME_WAIT del cliente, como mostraría `ss -tan`."},
    [T_S7_NOTE_NETNS] = {"close frees the descriptor, not the connection: the kernel still "
                         "holds the client's TIME_WAIT, as `ss -tan` in the client's namespace "
                         "would show (ip netns exec NAME ss -tan).",
                         "close libera el descriptor, no la conexión: el kernel aún mantiene "
                         "el TIME_WAIT del cliente, como mostraría `ss -tan` en el espacio de "
                         "nombres del cliente (ip netns exec NOMBRE ss -tan)."},
    [T_S8A] = {"shutdown() of the acceptor", "shutdown() del aceptador"},
    [T_S8A_NOTE] = {"\"Don't forget the acceptor\": shutdown stops it listening (a thread "
                    "blocked in accept would wake up now).",
                    "\"No olvidar el aceptador\": shutdown hace que deje de escuchar (un "
                    "hilo bloqueado en accept se despertaría ahora)."},
    [T_S8B] = {"close() of the acceptor", "close() del aceptador"},
    [T_S8B_NOTE] = {"Its descriptor is released; the port is free again.",
                    "Se libera su descriptor; el puerto vuelve a estar libre."},
    [T_PORT80] = {"Puerto 80 ?? No: the client is on port %d, chosen by the implicit bind of "
                  "connect from the kernel's ephemeral range %d-%d "
                  "(/proc/sys/net/ipv4/ip_local_port_range). The server's port, %d here, is "
                  "the one its bind got for port \"0\" (80 with --netns): a server's port is "
                  "chosen once and then known to its clients.",
                  "Puerto 80 ?? No: el cliente está en el puerto %d, elegido por el bind "
                  "implícito que hace connect, dentro del rango de puertos efímeros del kernel "
                  "%d-%d (/proc/sys/net/ipv4/ip_local_port_range). El puerto del servidor, "
                  "aquí el %d, es el que obtuvo su bind con el puerto \"0\" (80 con --netns): "
                  "el puerto de un servidor se fija una vez y sus clientes lo conocen."},
    [T_PORT80_NETNS] = {"Puerto 80 ?? No: the client is on port %d, chosen by the implicit bind "
                        "of connect from the kernel's ephemeral range %d-%d "
                        "(/proc/sys/net/ipv4/ip_local_port_range). Only the server has a fixed "
                        "port: %d, as on the slides.",
                        "Puerto 80 ?? No: el cliente está en el puerto %d, elegido por el "
                        "bind implícito que hace connect, dentro del rango de puertos efímeros "
                        "del kernel %d-%d (/proc/sys/net/ipv4/ip_local_port_range). Solo el "
                        "servidor tiene un puerto fijo: el %d, como en las diapositivas."},
    [T_AB5A] = {"send / recv: the server reads only part",
                "send / recv: el servidor lee solo una parte"},
    [T_AB5A_NOTE] = {"The client sends its request and more; the server reads only the "
                     "request line. The rest stays unread in srv's receive buffer.",
                     "El cliente envía su petición y algo más; el servidor solo lee la línea "
                     "de la petición. El resto queda sin leer en el búfer de recepción de "
                     "srv."},
    [T_AB5B] = {"send: a long reply", "send: una respuesta larga"},
    [T_AB5B_NOTE] = {"The client does not read yet, so only part of the reply fits in "
                     "flight; the rest waits in the server's kernel.",
                     "El cliente aún no lee, así que solo una parte de la respuesta puede "
                     "estar en tránsito; el resto espera en el kernel del servidor."},
    [T_AB6] = {"close() with unread data: RST", "close() con datos sin leer: RST"},
    [T_AB6_NOTE] = {"Closing with unread received data makes the kernel abort: it sends RST "
                    "instead of FIN and throws away the reply it had not sent yet.",
                    "Cerrar con datos recibidos sin leer hace que el kernel aborte la "
                    "conexión: envía RST en lugar de FIN y descarta la parte de la respuesta "
                    "que aún no había enviado."},
    [T_AB7] = {"recv: what the client gets", "recv: lo que recibe el cliente"},
    [T_AB7_NOTE] = {"The client reads what had arrived, then ECONNRESET instead of end of "
                    "stream. No TIME_WAIT on either side: a reset leaves none.",
                    "El cliente lee lo que había llegado y después recibe ECONNRESET en lugar "
                    "del fin de flujo. Ningún lado pasa por TIME_WAIT: un reset no lo deja."},
    [T_AB_LOST] = {"The server's send handed %lld bytes to its kernel; the client received "
                   "%lld. %lld bytes of the reply were lost to the reset.",
                   "El send del servidor entregó %lld bytes a su kernel; el cliente recibió "
                   "%lld. El reset hizo perder %lld bytes de la respuesta."},
    [T_AB_KEPT] = {"The server's send handed %lld bytes to its kernel and the client "
                   "received all %lld before the reset: nothing was lost this time.",
                   "El send del servidor entregó %lld bytes a su kernel y el cliente los "
                   "recibió todos (%lld) antes del reset: esta vez no se perdió nada."},
    [T_END] = {"Done: the connection went LISTEN -> ESTABLISHED -> FIN_WAIT2/CLOSE_WAIT -> "
               "TIME_WAIT on the side that closed first.",
               "En resumen: la conexión pasó por LISTEN -> ESTABLISHED -> "
               "FIN_WAIT2/CLOSE_WAIT -> TIME_WAIT en el lado que cerró primero."},
    [T_END_ABORT] = {"Done: closing with unread data reset the connection and lost part of "
                     "the reply. Read everything (or shut down and drain) before close.",
                     "En resumen: cerrar con datos sin leer abortó la conexión (la cortó con "
                     "RST) y se perdió parte de la respuesta. Lee todo lo recibido (o haz "
                     "shutdown y lee hasta el fin de flujo) antes de close."},
    [T_SVG_WRITTEN] = {"Sequence diagram written to %s.",
                       "Diagrama de secuencia guardado en %s."},
    [T_BYTES] = {"bytes", "bytes"},
    [T_EOF] = {"end of stream", "fin de flujo"},
    [T_NETNS_INFO] = {"Network namespaces %s (10.1.1.1) and %s (10.2.2.2), joined by a veth "
                      "pair; removed at the end.",
                      "Espacios de nombres de red %s (10.1.1.1) y %s (10.2.2.2), unidos por "
                      "un par veth; se eliminan al final."},
    [T_DROPS] = {"(the capture lost %u packets to a busy interface)",
                 "(la captura perdió %u paquetes: la interfaz estaba muy cargada)"},
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
