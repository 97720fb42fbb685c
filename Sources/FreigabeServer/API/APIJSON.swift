import Foundation
import Hummingbird
import NIOCore

/// How the API writes JSON: the service's Codable views with snake_case keys (`datasetID` →
/// `dataset_id`, `portalURL` → `portal_url`), instants as RFC 3339 in UTC without fractions, absent
/// optionals left out (never `null`), keys sorted so responses are stable.
///
/// Strings are escaped as JSON requires; HTML and SQL meta characters in texts arrive verbatim inside
/// JSON strings, which is safe because every API response is `application/json` with `nosniff`.
enum APIJSON {
    static func encoder() -> JSONEncoder {
        // A new encoder per call: JSONEncoder is a class with mutable settings, so sharing one across
        // tasks would need a proof nobody changes it.
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(data: try encoder().encode(value))
    }

    /// A JSON response. API answers are personal (they depend on who asks), so nothing caches them.
    static func response(
        _ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]
    ) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: try encode(value)))
    }
}

/// A list answer: `{"items": [...]}`, an object so that paging fields can be added without breaking
/// clients.
struct ItemList<Item: Encodable & Sendable>: Encodable, Sendable {
    var items: [Item]
}

/// A page of the inbox: `next` continues it (`?after=`), absent on the last page; `total` counts every
/// page (``InboxPage/total``: exact for an inbox of one page, an upper bound beyond).
struct InboxList: Encodable, Sendable {
    var items: [InboxItem]
    var total: Int?
    var next: String?

    init(_ page: InboxPage) {
        items = page.items
        total = page.total
        next = page.next?.description
    }
}

/// A list answer with the paging that produced it.
struct PagedList<Item: Encodable & Sendable>: Encodable, Sendable {
    var items: [Item]
    var limit: Int
    var offset: Int
}
