DROP TABLE provider_uncertainties;
