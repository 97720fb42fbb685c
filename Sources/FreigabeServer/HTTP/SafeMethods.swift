import HTTPTypes

extension HTTPRequest.Method {
    /// GET, HEAD and OPTIONS, which change nothing here (RFC 9110 §9.2.1): the checks that guard state
    /// changes (a form's CSRF token, a browser's cross-site command) let them pass.
    var isSafe: Bool { self == .get || self == .head || self == .options }
}
