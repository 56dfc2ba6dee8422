/** Loads every HTTP filter so each registers itself (one import per filter folder). */
export {};
