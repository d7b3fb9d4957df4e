"""ResolverState message classes that know every field the resolver reads.

The .proto copies shipped in the PyPI package predate some resolver fields
(starts_with/ends_with/contains rules, bloom filters, rule and credential
environments). Parsed with those classes, such fields would land in unknown
fields and the case generator could not see them. So we take the package's
file descriptors, add the missing fields (numbers from RESOLVER_SPEC.md §1.4)
and build classes from a private descriptor pool.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import struct_pb2, timestamp_pb2

FDP = descriptor_pb2.FieldDescriptorProto


def _file_proto(module):
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def _message(container, path):
    """Find a nested DescriptorProto by dotted path inside a file or message."""
    current = container
    for name in path.split("."):
        items = current.message_type if hasattr(current, "message_type") else current.nested_type
        current = next(m for m in items if m.name == name)
    return current


def _add_field(message, name, number, ftype, type_name=None, repeated=False, oneof=None):
    if any(f.number == number for f in message.field):
        return  # already there in a newer package: leave it alone
    field = message.field.add(name=name, number=number, type=ftype,
                              label=FDP.LABEL_REPEATED if repeated else FDP.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = [o.name for o in message.oneof_decl].index(oneof)


def _patch_target(proto):
    targeting = _message(proto, "Targeting")
    existing = {m.name for m in targeting.nested_type}
    for name in ("StartsWithRule", "EndsWithRule", "ContainsRule"):
        if name not in existing:
            rule = targeting.nested_type.add(name=name)
            rule.field.add(name="value", number=1, type=FDP.TYPE_STRING,
                           label=FDP.LABEL_OPTIONAL)
    prefix = ".confidence.flags.types.v1.Targeting."
    extra = (("starts_with_rule", "StartsWithRule"), ("ends_with_rule", "EndsWithRule"),
             ("contains_rule", "ContainsRule"))
    attribute = _message(proto, "Targeting.Criterion.AttributeCriterion")
    inner = _message(proto, "Targeting.InnerRule")
    for offset, (field, kind) in enumerate(extra):
        _add_field(attribute, field, 7 + offset, FDP.TYPE_MESSAGE, prefix + kind, oneof="rule")
        _add_field(inner, field, 4 + offset, FDP.TYPE_MESSAGE, prefix + kind, oneof="rule")


def _patch_admin(proto):
    state = _message(proto, "ResolverState")
    if not any(m.name == "BloomFilter" for m in state.nested_type):
        bloom = state.nested_type.add(name="BloomFilter")
        for name, number, ftype in (("materialized_segment", 1, FDP.TYPE_STRING),
                                    ("data", 2, FDP.TYPE_BYTES),
                                    ("hash_function_count", 3, FDP.TYPE_INT32),
                                    ("bit_count", 4, FDP.TYPE_INT64),
                                    ("strategy", 5, FDP.TYPE_INT32)):
            bloom.field.add(name=name, number=number, type=ftype, label=FDP.LABEL_OPTIONAL)
    _add_field(state, "bloom_filters", 10, FDP.TYPE_MESSAGE,
               ".confidence.flags.admin.v1.ResolverState.BloomFilter", repeated=True)
    _add_field(_message(proto, "Flag.Rule"), "environments", 16, FDP.TYPE_STRING, repeated=True)
    _add_field(_message(proto, "ClientCredential"), "environments", 16, FDP.TYPE_STRING,
               repeated=True)


def _build_classes():
    from confidence.proto.confidence.flags.admin.v1 import resolver_pb2
    from confidence.proto.confidence.flags.types.v1 import target_pb2, types_pb2

    target = _file_proto(target_pb2)
    admin = _file_proto(resolver_pb2)
    _patch_target(target)
    _patch_admin(admin)
    pool = descriptor_pool.DescriptorPool()
    for proto in (_file_proto(struct_pb2), _file_proto(timestamp_pb2),
                  _file_proto(types_pb2), target, admin):
        pool.Add(proto)
    name = "confidence.flags.admin.v1.ResolverState"
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


_RESOLVER_STATE = None


def parse_resolver_state(data):
    global _RESOLVER_STATE
    if _RESOLVER_STATE is None:
        _RESOLVER_STATE = _build_classes()
    state = _RESOLVER_STATE()
    state.ParseFromString(data)
    return state
