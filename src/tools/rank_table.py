"""Read an Ascend HCCL rank table (JSON, version 1.0) and list the devices this server must start.

    python -m src.tools.rank_table RANK_TABLE_FILE [--server_id ID] [--local_ips "IP IP ..."]

Prints `RANK_SIZE <total devices of all servers>`, then one `<rank_id> <device_id>` line per device of
this server. The server is the table's only one, else the one named by --server_id, else the one whose
server_id is among --local_ips. A table that is missing, not JSON or not a complete HCCL rank table is
reported in one line naming the file and the problem (exit 2).
"""
import argparse
import json
import os
from collections import namedtuple

from src.runtime.stops import UserError, report_user_errors

Device = namedtuple("Device", "rank_id device_id device_ip")
Server = namedtuple("Server", "server_id devices")

FORMAT_HINT = ('expected HCCL rank table version 1.0: {"version": "1.0", "server_count": "1", "server_list": '
               '[{"server_id": "<host IP>", "device": [{"device_id": "0", "device_ip": "<NIC IP>", '
               '"rank_id": "0"}, ...]}], "status": "completed"}. Generate one with hccl_tools.py')


def _whole_number(value, what, path):
    """HCCL writes numbers as strings ("3"); accept those and plain integers."""
    text = str(value)
    if isinstance(value, bool) or not text.isdigit():
        raise UserError(f"rank table '{path}': {what} must be a whole number, got {value!r}.")
    return int(text)


def _field(entry, key, where, path):
    if not isinstance(entry, dict) or key not in entry:
        raise UserError(f"rank table '{path}': {where} lacks '{key}'; {FORMAT_HINT}.")
    return entry[key]


def _read_server(entry, index, path):
    where = f"server_list[{index}]"
    server_id = str(_field(entry, "server_id", where, path))
    devices = _field(entry, "device", where, path)
    if not isinstance(devices, list) or not devices:
        raise UserError(f"rank table '{path}': {where} (server {server_id}) lists no devices; every server "
                        "needs at least one entry in 'device'.")
    parsed = []
    for number, device in enumerate(devices):
        here = f"{where}.device[{number}]"
        rank_id, device_id = (_whole_number(_field(device, key, here, path), f"{here}.{key}", path)
                              for key in ("rank_id", "device_id"))
        parsed.append(Device(rank_id, device_id, str(_field(device, "device_ip", here, path))))
    device_ids = [device.device_id for device in parsed]
    repeated = sorted({d for d in device_ids if device_ids.count(d) > 1})
    if repeated:
        raise UserError(f"rank table '{path}': server {server_id} lists device_id {repeated[0]} more than once.")
    return Server(server_id, parsed)


def load_rank_table(path):
    """The servers of the rank table at `path`, checked: every rank id 0..N-1 exactly once."""
    if not os.path.isfile(path):
        raise UserError(f"rank table '{os.path.abspath(path)}' does not exist: pass the HCCL JSON file describing "
                        "this machine's devices (generate one with hccl_tools.py).")
    try:
        with open(path, encoding="utf-8") as stream:
            table = json.load(stream)
    except json.JSONDecodeError as err:
        raise UserError(f"rank table '{path}' is not valid JSON ({err.msg} at line {err.lineno} column "
                        f"{err.colno}).") from None
    except UnicodeDecodeError:
        raise UserError(f"rank table '{path}' is not a UTF-8 text file; {FORMAT_HINT}.") from None
    servers = _field(table, "server_list", "the top level", path)
    if not isinstance(servers, list) or not servers:
        raise UserError(f"rank table '{path}': 'server_list' is empty; {FORMAT_HINT}.")
    if table.get("status", "completed") != "completed":
        raise UserError(f"rank table '{path}' has status {table['status']!r}, not 'completed': HCCL only "
                        "accepts a finished table.")
    if "server_count" in table and _whole_number(table["server_count"], "server_count", path) != len(servers):
        raise UserError(f"rank table '{path}' says server_count {table['server_count']} but lists "
                        f"{len(servers)} servers in server_list.")
    parsed = [_read_server(entry, index, path) for index, entry in enumerate(servers)]
    ranks = sorted(device.rank_id for server in parsed for device in server.devices)
    if ranks != list(range(len(ranks))):
        repeated = sorted({r for r in ranks if ranks.count(r) > 1})
        problem = (f"rank_id {repeated[0]} appears more than once" if repeated else
                   f"rank ids {ranks} are not 0..{len(ranks) - 1}")
        raise UserError(f"rank table '{path}': {problem}; every device needs its own rank_id from 0 to "
                        f"{len(ranks) - 1}.")
    return parsed


def local_server(servers, path, server_id=None, local_ips=()):
    """The server this machine is: the only one, the one named `server_id`, or the one among `local_ips`."""
    names = [server.server_id for server in servers]
    if server_id:
        if server_id not in names:
            raise UserError(f"rank table '{path}' has no server '{server_id}' (SERVER_ID); it lists "
                            f"{', '.join(names)}.")
        return servers[names.index(server_id)]
    if len(servers) == 1:
        return servers[0]
    mine = [server for server in servers if server.server_id in set(local_ips)]
    if len(mine) != 1:
        raise UserError(f"rank table '{path}' lists {len(servers)} servers ({', '.join(names)}) and "
                        f"{'none' if not mine else 'several'} of them matches this machine's addresses "
                        f"({' '.join(local_ips) or 'unknown'}): set SERVER_ID to this machine's server_id.")
    return mine[0]


@report_user_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rank_table_file")
    parser.add_argument("--server_id", default="", help="server_id of this machine in the table")
    parser.add_argument("--local_ips", default="", help="this machine's IP addresses, separated by spaces")
    args = parser.parse_args(argv)
    servers = load_rank_table(args.rank_table_file)
    server = local_server(servers, args.rank_table_file, args.server_id, args.local_ips.split())
    print(f"RANK_SIZE {sum(len(s.devices) for s in servers)}")
    for device in sorted(server.devices, key=lambda d: d.rank_id):
        print(f"{device.rank_id} {device.device_id}")


if __name__ == "__main__":
    main()
