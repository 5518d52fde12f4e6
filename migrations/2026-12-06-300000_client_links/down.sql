DROP TABLE client_links;
