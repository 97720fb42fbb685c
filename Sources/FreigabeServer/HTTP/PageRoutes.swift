import Hummingbird

/// The HTML pages. For now only the start page.
struct PageRoutes<Context: RequestContext> {
    let renderer: PageRenderer

    func add(to router: Router<Context>) {
        router.get("/") { request, _ in
            try page("start", for: request)
        }
    }

    private func page(_ template: String, for request: Request) throws -> HTMLPage {
        let language = renderer.negotiation.language(forAcceptLanguage: request.headers[.acceptLanguage])
        guard let html = renderer.render(template, language: language) else {
            // Cannot happen for templates checked at start (`PageRenderer.requiredTemplates`).
            throw HTTPError(.internalServerError)
        }
        return HTMLPage(html: html, language: language)
    }
}
