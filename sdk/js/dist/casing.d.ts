export declare const toSnake: (key: string) => string;
export declare const toCamel: (key: string) => string;
export declare const snakeKeys: (value: unknown) => unknown;
export declare const camelKeys: (value: unknown) => unknown;
