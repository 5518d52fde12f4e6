//! Every API route is registered through one table, so the contract test can compare the
//! exact (method, path) list the server serves with `openapi.yaml`.

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, Responder, Route, web};

#[derive(Default)]
pub struct RouteTable {
    routes: Vec<(Method, &'static str, Route)>,
}

impl RouteTable {
    pub fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.routes
            .push((method.clone(), path, web::method(method).to(handler)));
        self
    }

    pub fn get<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler)
    }

    pub fn post<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler)
    }

    pub fn put<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PUT, path, handler)
    }

    pub fn patch<F, Args>(&mut self, path: &'static str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::PATCH, path, handler)
    }

    /// (method, path) of every route, in registration order.
    pub fn endpoints(&self) -> Vec<(Method, &'static str)> {
        self.routes
            .iter()
            .map(|(method, path, _)| (method.clone(), *path))
            .collect()
    }

    /// Mounts the routes, one resource per path, so a known path with another method
    /// answers 405 rather than 404; each refuses control characters in its parameters.
    pub fn mount(self, config: &mut web::ServiceConfig) {
        let mut resources: Vec<(&'static str, actix_web::Resource)> = Vec::new();
        for (_, path, route) in self.routes {
            match resources.iter().position(|(known, _)| *known == path) {
                Some(index) => {
                    let (_, resource) = resources.remove(index);
                    resources.insert(index, (path, resource.route(route)));
                }
                None => resources.push((path, web::resource(path).route(route))),
            }
        }
        // Fixed paths first: the router tries resources in order, and each pattern with a
        // parameter costs a regex match (7 % of a search's instructions went to them). No fixed
        // path matches a pattern (tests/api/contract.rs), so the order changes no answer.
        resources.sort_by_key(|(path, _)| path.contains('{'));
        for (_, resource) in resources {
            config.service(resource.wrap(from_fn(super::path::refuse_control_characters)));
        }
    }
}
