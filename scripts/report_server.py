#!/usr/bin/env python3
"""The report's server (Servidor.py in ../shared/seed/), transcribed as written, for comparison only.

    scripts/report_server.py [--host 127.0.0.1] [--port 12345] [--verbose]

What differs from the report, and why:
- host and port are arguments (port 0 picks a free one), and the first line printed is
  `listening on HOST:PORT (mode: report)`, which the benchmark scripts wait for;
- the per-message prints ("Mensagem recebida de ...", "Mensagem retransmitida para ...") are
  off unless --verbose: printing two lines per delivery to a terminal measures the terminal;
- `main()` runs under `if __name__ == "__main__"`.
Everything else is the report's: one thread per client, recv(1024), and the reading thread
sends each chunk to every other client with a blocking send, under no lock; a failed send
removes that client. Chunks are relayed as they come, so lines can be torn or interleaved.
"""
import argparse
import socket
import sys
import threading

VERBOSE = False

# Lista para armazenar os clientes conectados
clientes = []


# Função para lidar com as mensagens recebidas dos clientes
def lidar_com_clientes(cliente_socket):
    while True:
        try:
            mensagem = cliente_socket.recv(1024).decode('utf-8')
            if mensagem:
                if VERBOSE:
                    print(f"Mensagem recebida de {cliente_socket.getpeername()}: {mensagem}")
                broadcast(mensagem, cliente_socket)
            else:
                remove(cliente_socket)
                break
        except:  # noqa: E722 (as in the report)
            remove(cliente_socket)
            break


# Função para retransmitir mensagens para todos os clientes
def broadcast(mensagem, cliente_socket):
    for cliente in clientes:
        if cliente != cliente_socket:
            try:
                cliente.send(mensagem.encode('utf-8'))
                if VERBOSE:
                    print(f"Mensagem retransmitida para {cliente.getpeername()}")
            except:  # noqa: E722
                remove(cliente)


# Função para remover clientes desconectados
def remove(cliente_socket):
    if cliente_socket in clientes:
        clientes.remove(cliente_socket)
        if VERBOSE:
            print(f"Cliente {cliente_socket.getpeername()} desconectado")


def main(host, port):
    # Configuração do socket do servidor
    servidor_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        servidor_socket.bind((host, port))
        servidor_socket.listen()
        bound = servidor_socket.getsockname()
        print(f"listening on {bound[0]}:{bound[1]} (mode: report)", flush=True)
    except:  # noqa: E722
        return print("\nNão foi possível iniciar o servidor!\n")

    while True:
        cliente_socket, endereco_do_cliente = servidor_socket.accept()
        clientes.append(cliente_socket)
        if VERBOSE:
            print(f"Conexão estabelecida com {endereco_do_cliente}")
        threading.Thread(target=lidar_com_clientes, args=(cliente_socket,)).start()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12345)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    VERBOSE = args.verbose
    try:
        main(args.host, args.port)
    except KeyboardInterrupt:
        sys.exit(0)
