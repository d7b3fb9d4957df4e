"""Writes a copy of a state with N clones of one of its flags, named
<flag>-0 ... <flag>-(N-1), for tests whose cost must not grow with the
number of distinct flags (tests/provider/test_integration.c).

    python3 tools/testserver/many_flags.py IN OUT FLAG N
"""

import sys

import usevenv

usevenv.ensure()

import protos  # noqa: E402


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    src, dst, flag, count = argv[1], argv[2], argv[3], int(argv[4])
    pb = protos.load()
    with open(src, "rb") as f:
        data = f.read()
    from google.protobuf.message import DecodeError

    env, state = pb.admin.ClientResolverState(), pb.admin.ResolverState()
    try:
        env.ParseFromString(data)
        state.ParseFromString(env.state)
    except DecodeError:
        env = None
    if env is None or not state.flags:
        env = None
        state = pb.admin.ResolverState()
        state.ParseFromString(data)
    template = next((f for f in state.flags if f.name == flag), None)
    if template is None:
        sys.stderr.write("no flag %s in %s\n" % (flag, src))
        return 2
    for i in range(count):
        clone = state.flags.add()
        clone.CopyFrom(template)
        clone.name = "%s-%d" % (flag, i)
    if env is not None:
        env.state = state.SerializeToString()
    with open(dst, "wb") as f:
        f.write((env if env is not None else state).SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
