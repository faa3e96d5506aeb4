//! The HTTP gateway: the Leptos web application, rendered on the server.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use leptos::prelude::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use mailroom_frontend::{App, shell};

use crate::service::Service;

const STYLESHEET: &str = include_str!("../../style/mailroom.css");
const FAVICON: &[u8] = include_bytes!("../../public/favicon.ico");

/// The web application's routes, ready to serve (or to test with
/// `oneshot`).
pub fn app(service: Service) -> Router {
    let options = LeptosOptions::builder().output_name("mailroom").build();
    let routes = generate_route_list(App);
    Router::new()
        .route(
            "/mailroom.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLESHEET) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { ([(header::CONTENT_TYPE, "image/x-icon")], FAVICON) }),
        )
        .leptos_routes_with_context(
            &options,
            routes,
            move || leptos::prelude::provide_context(service.clone()),
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .with_state(options)
}
