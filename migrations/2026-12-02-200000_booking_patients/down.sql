DROP TABLE booking_patients;
