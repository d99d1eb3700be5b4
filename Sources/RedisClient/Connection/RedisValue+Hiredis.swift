import CHiredis

extension RedisValue {
    /// Copies a hiredis reply tree; the caller frees the C reply.
    init(hiredisReply reply: UnsafePointer<redisReply>) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            guard let str = node.str else {
                self = .bulk([])
                return
            }
            self = .bulk(Array(UnsafeRawBufferPointer(start: str, count: node.len)))
        case REDIS_REPLY_STATUS:
            self = .status(Self.text(node))
        case REDIS_REPLY_ERROR:
            self = .error(Self.text(node))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_ARRAY:
            guard let elements = node.element else {
                self = .array([])
                return
            }
            var values: [RedisValue] = []
            values.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                values.append(elements[index].map { RedisValue(hiredisReply: $0) } ?? .null)
            }
            self = .array(values)
        default:
            self = .error("unknown hiredis reply type \(node.type)")
        }
    }

    private static func text(_ node: redisReply) -> String {
        node.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: node.len), as: UTF8.self) } ?? ""
    }
}
